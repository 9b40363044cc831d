// What the in-process benchmarks share: a monotonic clock and a registered agent with a
// fresh Ed25519 key that mints its own tokens.
public import AgentIdentity
import Foundation
import Rego

#if canImport(Glibc)
import Glibc
#endif

/// The command line, after checking that it has at least `count` arguments (the program's
/// name included); otherwise prints `usage` and exits with status 2.
public func benchArguments(atLeast count: Int, usage: String) -> [String] {
    let args = CommandLine.arguments
    guard args.count >= count else {
        FileHandle.standardError.write(Data(("usage: " + usage + "\n").utf8))
        exit(2)
    }
    return args
}

/// CLOCK_MONOTONIC in nanoseconds.
public func nowNs() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// An active agent and the key its tokens are signed with (kid `bench`).
public struct BenchAgent {
    public let now: Int64
    public let key: PrivateKey
    public let signing: SigningKey
    public let record: AgentRecord
    let contact: String

    public init(id: String, ownerName: String, contact: String, team: String, tools: [String]) throws {
        now = Int64(Date().timeIntervalSince1970)
        self.contact = contact
        key = try PrivateKey.generateEd25519()
        signing = SigningKey(kid: "bench", algorithm: .eddsa, material: .publicKey(try key.publicKey()), source: "bench")
        record = AgentRecord(id: id, owner: .init(name: ownerName, contact: contact), team: team, purpose: "benchmarks", tier: 2,
                             environments: ["dev"], tools: tools, expiresAt: now + 86_400)
    }

    /// A token for the agent, valid for 50 minutes.
    public func token(jti: String) throws -> String {
        try TokenMinter.mint(claims: RegoObject(fields: [
            "iss": .string("warden"), "aud": .string("warden"), "sub": .string(record.id), "owner": .string(contact),
            "iat": .int(Int(now)), "nbf": .int(Int(now)), "exp": .int(Int(now) + 3000), "jti": .string(jti),
        ]), key: key, kid: "bench")
    }
}
