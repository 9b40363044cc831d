import Rego
import Testing
@testable import AgentIdentity

/// RFC 8032 §7.1 Ed25519 vectors (secret, public, message, signature) and RFC 8037's JWS
/// and thumbprint examples, through OpenSSL.
struct Ed25519VectorTests {
    struct Vector: Sendable {
        let secret, publicKey, message, signature: String
    }

    static let rfc8032: [Vector] = [
        Vector(secret: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
               publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
               message: "",
               signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
        Vector(secret: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
               publicKey: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
               message: "72",
               signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
        Vector(secret: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
               publicKey: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
               message: "af82",
               signature: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ]

    static func hex(_ s: String) -> [UInt8] { Hex.decode(s)! }

    @Test(arguments: rfc8032)
    func rfc8032SignAndVerify(_ v: Vector) throws {
        let key = try PrivateKey.ed25519(seed: Self.hex(v.secret))
        let pub = try key.publicKey()
        #expect(pub.rawEd25519 == Self.hex(v.publicKey))
        #expect(try key.sign(Self.hex(v.message)) == Self.hex(v.signature))
        let verifier = try PublicKey.ed25519(raw: Self.hex(v.publicKey))
        #expect(verifier.verify(.eddsa, message: Self.hex(v.message), signature: Self.hex(v.signature)))
        var altered = Self.hex(v.signature)
        altered[5] ^= 0x01
        #expect(!verifier.verify(.eddsa, message: Self.hex(v.message), signature: altered))
        #expect(!verifier.verify(.eddsa, message: Self.hex(v.message) + [0], signature: Self.hex(v.signature)))
    }

    // RFC 8037 Appendix A.
    static let d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
    static let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    static let jws = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"

    @Test func rfc8037JWSExample() throws {
        let key = try PrivateKey.ed25519(seed: Base64.decode(Self.d, url: true, requirePadding: false)!)
        #expect(Base64.encode(try key.publicKey().rawEd25519!, url: true, pad: false) == Self.x)
        let parts = Self.jws.split(separator: ".")
        let signingInput = Array((parts[0] + "." + parts[1]).utf8)
        let signature = try key.sign(signingInput)
        #expect(Base64.encode(signature, url: true, pad: false) == String(parts[2]))
        let pub = try PublicKey.ed25519(raw: Base64.decode(Self.x, url: true, requirePadding: false)!)
        #expect(pub.verify(.eddsa, message: signingInput, signature: signature))
        // The same key never verifies another algorithm.
        #expect(!pub.verify(.es256, message: signingInput, signature: signature))
    }

    @Test func rfc8037Thumbprint() throws {
        let pub = try PublicKey.ed25519(raw: Base64.decode(Self.x, url: true, requirePadding: false)!)
        #expect(Ed25519JWK.thumbprint(pub) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
    }
}
