import AgentIdentity
import ArgumentParser
import Foundation
import Rego
import Store
import Warden

#if canImport(Glibc)
import Glibc
#endif

/// `warden keys …`: Ed25519 signing keys for agent tokens.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Generate, register, list and retire token signing keys.",
        subcommands: [Generate.self, Add.self, List.self, Retire.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an Ed25519 key pair: KID.pem (private, mode 0600) and KID.jwk.json (public).",
            discussion: "The kid defaults to the key's RFC 7638 thumbprint. --register also stores the public key in the database.")

        @Option(help: "Directory to write the key files to.")
        var out: String = "."

        @Option(help: "Key id (default: the JWK thumbprint).")
        var kid: String?

        @Flag(help: "Store the public key in the database, so every Warden accepts its tokens.")
        var register = false

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try reportingErrors {
                let key = try PrivateKey.generateEd25519()
                let pub = try key.publicKey()
                let jwk = Ed25519JWK.publicJWK(pub, kid: kid)
                guard case .string(let kid)? = jwk["kid"] else { return }
                // The kid names the files: letters, digits, '-', '_' and '.' only.
                guard !kid.isEmpty, !kid.hasPrefix("."), kid.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                    throw CLIError("--kid \(kid): use letters, digits, '-', '_' and '.'")
                }
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                let pemPath = "\(out)/\(kid).pem", jwkPath = "\(out)/\(kid).jwk.json"
                guard !FileManager.default.fileExists(atPath: pemPath) else { throw CLIError("\(pemPath) exists; not overwriting a key") }
                do { try WholeFile.write(Array(key.pemText().utf8), to: pemPath, mode: 0o600) } catch {
                    throw CLIError("\(error)")
                }
                try Data((Value.object(jwk).jsonString() + "\n").utf8).write(to: URL(fileURLWithPath: jwkPath))
                if register {
                    let signing = try SigningKey.fromJWK(jwk, source: jwkPath)
                    try PostgresAgentRegistry(try database.connect()).addKey(signing, jwkJSON: Value.object(jwk).jsonString())
                }
                print(kid)
                printStderr("wrote \(pemPath) (private) and \(jwkPath) (public)\(register ? "; registered the public key" : "")")
            }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register public keys (a JWK or a JWK Set file) in the database.")

        @Argument(help: "JWK or JWKS file.")
        var file: String

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try reportingErrors {
                guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("\(file): cannot read") }
                let text = String(decoding: data, as: UTF8.self)
                let keys = try SigningKey.parseJWKS(text, source: file)
                let registry = PostgresAgentRegistry(try database.connect())
                guard case .object(let root) = try Value.parseJSON(text) else { return }
                let jwks: [Value]
                if case .array(let list)? = root["keys"] { jwks = list } else { jwks = [.object(root)] }
                for (key, jwk) in zip(keys, jwks) {
                    try registry.addKey(key, jwkJSON: jwk.jsonString())
                    print("registered key \(key.kid) (\(key.algorithm.rawValue))")
                }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the signing keys in the database.")

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try reportingErrors {
                let (keys, problems) = try PostgresAgentRegistry(try database.connect()).signingKeys()
                printTable(["KID", "ALG", "STATUS"], keys.map { k in
                    [k.kid, k.algorithm.rawValue, k.retiredAt.map { "retired \(RFC3339.format(seconds: Int($0), nanos: 0))" } ?? "active"]
                })
                for p in problems { printStderr("warning: \(p)") }
            }
        }
    }

    struct Retire: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Retire a signing key: its tokens are refused from now on.")

        // A kid is a base64url thumbprint and may start with '-'.
        @Argument(help: "The key id. One that starts with '-' goes after '--': warden keys retire -- -7ojF…")
        var kid: String

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try reportingErrors {
                try PostgresAgentRegistry(try database.connect()).retireKey(kid)
                print("retired key \(kid): tokens it signed are refused from now on")
            }
        }
    }
}

/// `warden token …`: mint and inspect agent tokens.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Mint and inspect agent tokens (EdDSA JWTs).", subcommands: [Mint.self, Inspect.self])

    struct Mint: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a short-lived token for a registered, active agent with an owner.")

        @Option(help: "The agent id (the token's sub).")
        var agent: String

        @Option(help: "The Ed25519 private key (PEM) from `warden keys generate`.")
        var key: String

        @Option(help: "Key id (default: the kid of KEY.jwk.json beside the key, as `keys generate` writes it; else the JWK thumbprint).")
        var kid: String?

        /// The kid in the public JWK that `keys generate` wrote beside the private key.
        func siblingKeyID() -> String? {
            guard key.hasSuffix(".pem"), let data = FileManager.default.contents(atPath: String(key.dropLast(4)) + ".jwk.json"),
                  case .object(let o)? = try? Value.parseJSON(String(decoding: data, as: UTF8.self)),
                  case .string(let kid)? = o["kid"] else { return nil }
            return kid
        }

        @Option(help: "Lifetime: 30s, 15m, 1h (default 15m; at most identity.max_lifetime_seconds).")
        var ttl: String = "15m"

        @Option(help: "Tools the token is limited to, space- or comma-separated; each must be among the agent's tools.")
        var scope: String?

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try reportingErrors {
                let cfg = try database.loadConfig()
                guard let ttlSeconds = parseDuration(ttl), ttlSeconds > 0 else { throw CLIError("--ttl \(ttl): use a duration such as 30s, 15m or 1h") }
                guard ttlSeconds <= cfg.identity.token.maxLifetimeSeconds else {
                    throw CLIError("--ttl \(ttl) is longer than the maximum token lifetime (\(cfg.identity.token.maxLifetimeSeconds) s); Warden would refuse it")
                }
                guard let pem = FileManager.default.contents(atPath: key) else { throw CLIError("\(key): cannot read the private key") }
                let privateKey = try PrivateKey.pem(String(decoding: pem, as: UTF8.self))
                let kid = try self.kid ?? siblingKeyID() ?? Ed25519JWK.thumbprint(try privateKey.publicKey())

                let registry = PostgresAgentRegistry(try database.connect())
                guard let a = try registry.agent(agent) else {
                    throw CLIError("agent \(agent) is not registered: register it with `warden agent register -f <manifest.yaml>`")
                }
                let now = Int64(Date().timeIntervalSince1970)
                guard let owner = a.owner else { throw CLIError("agent \(agent) has no owner: name one in its manifest and register it again") }
                guard a.status == .active else { throw CLIError("agent \(agent) is \(a.status.rawValue): no tokens are issued for it") }
                guard a.expiresAt > now else { throw CLIError("agent \(agent)'s access expired on \(day(a.expiresAt)): renew it with `warden agent renew \(agent) --until <date>`") }
                var claims: [String: Value] = [
                    "iss": .string(cfg.identity.token.issuer), "aud": .string(cfg.identity.token.audience),
                    "sub": .string(a.id), "owner": .string(owner.contact),
                    "iat": .int(Int(now)), "nbf": .int(Int(now)), "exp": .int(Int(min(now + ttlSeconds, a.expiresAt))),
                    "jti": .string(Hex.encode(secureRandomBytes(16))),
                ]
                if let tenant = a.tenant { claims["tenant"] = .string(tenant) }
                if let scope {
                    let items = scope.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
                    if let outside = items.first(where: { !a.tools.contains($0) }) {
                        throw CLIError("--scope \(outside) is not among agent \(agent)'s tools (\(a.tools.joined(separator: ", ")))")
                    }
                    claims["scope"] = .string(items.joined(separator: " "))
                }
                print(try TokenMinter.mint(claims: RegoObject(fields: claims), key: privateKey, kid: kid))
            }
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a token's header and claims, and whether it verifies (exit 1 when it does not).",
            discussion: "Keys come from --jwks and, when a database is configured, from the registry, which also judges the agent.")

        @Argument(help: "The token (or - to read it from standard input).")
        var token: String

        @Option(help: "JWKS file or directory (repeatable).")
        var jwks: [String] = []

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try reportingErrors {
                var text = token
                if text == "-" { text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) }
                text = text.filter { !$0.isWhitespace }
                let parts = text.split(separator: ".", omittingEmptySubsequences: false)
                for (i, name) in ["header", "claims"].enumerated() where i < parts.count {
                    if let bytes = Base64.decode(String(parts[i]), url: true, requirePadding: false), let v = try? Value.parseJSON(bytes: bytes) {
                        print("\(name): \(v.jsonString())")
                    } else {
                        print("\(name): (not base64url JSON)")
                    }
                }
                let cfg = try database.loadConfig()
                var keys = try RegistryWatcher.loadKeyFiles(jwks.isEmpty ? cfg.jwks : jwks)
                var agents: [AgentRecord] = []
                if !cfg.databaseURL.isEmpty {
                    let registry = PostgresAgentRegistry(try database.connect())
                    keys += try registry.signingKeys().keys
                    agents = try registry.agents()
                }
                let now = Int64(Date().timeIntervalSince1970)
                let gate = IdentityGate(rules: cfg.identity, snapshot: RegistrySnapshot(agents: agents, keys: keys, loadedAt: now))
                do throws(TokenRefusal) {
                    let verified = try TokenVerifier.verify(text, keys: gate.current.keys, rules: cfg.identity.token, now: now)
                    print("signature and claims: valid (key \(verified.kid), expires \(RFC3339.format(seconds: Int(verified.expiresAt), nanos: 0)))")
                } catch {
                    print("signature and claims: refused: \(error.code): \(error.reason)")
                    throw ExitCode(1)
                }
                guard !cfg.databaseURL.isEmpty else {
                    print("agent: not checked (no database configured)")
                    return
                }
                switch gate.authenticate(token: text, now: now) {
                case .admitted(let a): print("agent: \(a.record.id) may act (active, owner \(a.record.owner?.contact ?? "?"))")
                case .refused(let r):
                    print("agent: refused: \(r.code): \(r.reason)\nnext: \(r.next)")
                    throw ExitCode(1)
                }
            }
        }
    }
}

/// `30s`, `15m`, `1h`, `2d`, or plain seconds.
func parseDuration(_ s: String) -> Int64? {
    guard let last = s.last else { return nil }
    let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
    if let unit = units[last] { return Int64(s.dropLast()).map { $0 * unit } }
    return Int64(s)
}
