import Rego
import Testing
@testable import AgentIdentity

/// FIPS 180 / RFC 1321 digests of "abc" through every entry point of `Digest`: the
/// implementations are fetched from OpenSSL's providers once and reused.
struct DigestVectorTests {
    static let abc: [(Digest, String)] = [
        (.md5, "900150983cd24fb0d6963f7d28e17f72"),
        (.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (.sha384, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"),
        (.sha512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
    ]

    @Test func everyEntryPointGivesTheStandardDigest() {
        let message = Array("abc".utf8)
        for (digest, expected) in Self.abc {
            #expect(Hex.encode(digest.hash(message)) == expected, "\(digest)")
            #expect(Hex.encode(digest.hash(Array(message.prefix(1)), message.dropFirst())) == expected, "\(digest) in two parts")
            var out = [UInt8](repeating: 0, count: digest.length)
            message.withUnsafeBytes { m in out.withUnsafeMutableBytes { digest.hash(m, into: $0) } }
            #expect(Hex.encode(out) == expected, "\(digest) into a buffer")
            // Twice: the fetched implementation is shared, not consumed.
            #expect(Hex.encode(digest.hash(message)) == expected, "\(digest) again")
        }
    }
}
