import Rego
import Testing
@testable import AgentIdentity

/// Fixed keys and a token factory shared by the identity tests.
enum Fixture {
    static let now: Int64 = 1_800_000_000
    static let agentID = "agent/code-review-bot@team-platform"
    static let keyA = try! PrivateKey.ed25519(seed: [UInt8](repeating: 1, count: 32))
    static let keyB = try! PrivateKey.ed25519(seed: [UInt8](repeating: 2, count: 32))
    static let retiredKey = try! PrivateKey.ed25519(seed: [UInt8](repeating: 3, count: 32))

    static func signingKey(_ k: PrivateKey, _ kid: String, retiredAt: Int64? = nil) -> SigningKey {
        SigningKey(kid: kid, algorithm: .eddsa, material: .publicKey(try! k.publicKey()), retiredAt: retiredAt, source: "test")
    }

    static let keys: [String: SigningKey] = [
        "a": signingKey(keyA, "a"), "b": signingKey(keyB, "b"), "old": signingKey(retiredKey, "old", retiredAt: now - 60),
    ]

    static func b64(_ s: String) -> String { Base64.encode(Array(s.utf8), url: true, pad: false) }

    static func claimsJSON(_ overrides: [String: Value] = [:], removing: [String] = []) -> String {
        var c: [String: Value] = [
            "iss": .string("warden"), "aud": .string("warden"), "sub": .string(agentID), "jti": .string("j1"),
            "iat": .int(Int(now)), "nbf": .int(Int(now)), "exp": .int(Int(now) + 900), "owner": .string("ana@example.com"),
        ]
        for (k, v) in overrides { c[k] = v }
        for k in removing { c[k] = nil }
        return Value.object(RegoObject(fields: c)).jsonString()
    }

    /// header and payload as raw JSON text, signed with `key`.
    static func token(header: String = #"{"alg":"EdDSA","kid":"a","typ":"JWT"}"#, payload: String = claimsJSON(),
                      key: PrivateKey = keyA) -> String {
        let input = b64(header) + "." + b64(payload)
        return input + "." + Base64.encode(try! key.sign(Array(input.utf8)), url: true, pad: false)
    }
}

struct TokenAttackTests {
    struct Attack: Sendable, CustomTestStringConvertible {
        let name: String
        let token: @Sendable () -> String
        let code: String
        var testDescription: String { name }
    }

    static func replacingSignature(_ t: String, _ change: ([UInt8]) -> [UInt8]) -> String {
        let parts = t.split(separator: ".")
        let sig = Base64.decode(String(parts[2]), url: true, requirePadding: false)!
        return parts[0] + "." + parts[1] + "." + Base64.encode(change(sig), url: true, pad: false)
    }

    static let attacks: [Attack] = [
        Attack(name: "alg none, no signature", token: { Fixture.b64(#"{"alg":"none","kid":"a"}"#) + "." + Fixture.b64(Fixture.claimsJSON()) + "." },
               code: "token_alg_refused"),
        Attack(name: "HS256 signed with the Ed25519 public key as the secret", token: {
            let input = Fixture.b64(#"{"alg":"HS256","kid":"a"}"#) + "." + Fixture.b64(Fixture.claimsJSON())
            let mac = Digest.sha256.hmac(key: try! Fixture.keyA.publicKey().rawEd25519!, Array(input.utf8))
            return input + "." + Base64.encode(mac, url: true, pad: false)
        }, code: "token_alg_refused"),
        Attack(name: "RS256 presented for an Ed25519 kid", token: { Fixture.token(header: #"{"alg":"RS256","kid":"a"}"#) },
               code: "token_alg_refused"),
        Attack(name: "kid swapped to another configured key", token: { Fixture.token(header: #"{"alg":"EdDSA","kid":"b"}"#) },
               code: "token_bad_signature"),
        Attack(name: "truncated signature", token: { replacingSignature(Fixture.token()) { Array($0.dropLast(3)) } },
               code: "token_bad_signature"),
        Attack(name: "altered signature", token: { replacingSignature(Fixture.token()) { var s = $0; s[10] ^= 0x80; return s } },
               code: "token_bad_signature"),
        Attack(name: "altered payload", token: {
            let parts = Fixture.token().split(separator: ".")
            return parts[0] + "." + Fixture.b64(Fixture.claimsJSON(["sub": .string("agent/admin")])) + "." + parts[2]
        }, code: "token_bad_signature"),
        Attack(name: "expired", token: { Fixture.token(payload: Fixture.claimsJSON(["iat": .int(Int(Fixture.now) - 1000), "exp": .int(Int(Fixture.now) - 100)])) },
               code: "token_expired"),
        Attack(name: "not yet valid", token: { Fixture.token(payload: Fixture.claimsJSON(["nbf": .int(Int(Fixture.now) + 300)])) },
               code: "token_not_yet_valid"),
        Attack(name: "issued in the future", token: { Fixture.token(payload: Fixture.claimsJSON(["iat": .int(Int(Fixture.now) + 300), "exp": .int(Int(Fixture.now) + 900)])) },
               code: "token_not_yet_valid"),
        Attack(name: "wrong audience", token: { Fixture.token(payload: Fixture.claimsJSON(["aud": .string("billing")])) },
               code: "token_wrong_audience"),
        Attack(name: "no audience", token: { Fixture.token(payload: Fixture.claimsJSON(removing: ["aud"])) },
               code: "token_wrong_audience"),
        Attack(name: "wrong issuer", token: { Fixture.token(payload: Fixture.claimsJSON(["iss": .string("https://evil.example")])) },
               code: "token_wrong_issuer"),
        Attack(name: "lifetime too long", token: { Fixture.token(payload: Fixture.claimsJSON(["exp": .int(Int(Fixture.now) + 7200)])) },
               code: "token_lifetime_too_long"),
        Attack(name: "no exp", token: { Fixture.token(payload: Fixture.claimsJSON(removing: ["exp"])) }, code: "token_claims_invalid"),
        Attack(name: "exp as a string", token: { Fixture.token(payload: Fixture.claimsJSON(["exp": .string("tomorrow")])) },
               code: "token_claims_invalid"),
        Attack(name: "no sub", token: { Fixture.token(payload: Fixture.claimsJSON(removing: ["sub"])) }, code: "token_claims_invalid"),
        Attack(name: "no jti", token: { Fixture.token(payload: Fixture.claimsJSON(removing: ["jti"])) }, code: "token_claims_invalid"),
        Attack(name: "unknown kid", token: { Fixture.token(header: #"{"alg":"EdDSA","kid":"nobody"}"#) }, code: "token_unknown_key"),
        Attack(name: "no kid", token: { Fixture.token(header: #"{"alg":"EdDSA"}"#) }, code: "token_malformed"),
        Attack(name: "retired key", token: { Fixture.token(header: #"{"alg":"EdDSA","kid":"old"}"#, key: Fixture.retiredKey) },
               code: "token_key_retired"),
        Attack(name: "oversized", token: { Fixture.token(payload: Fixture.claimsJSON(["pad": .string(String(repeating: "x", count: 9000))])) },
               code: "token_oversized"),
        Attack(name: "bad base64 in the payload", token: {
            let parts = Fixture.token().split(separator: ".")
            return parts[0] + ".eyJ*." + parts[2]
        }, code: "token_malformed"),
        Attack(name: "base64 padding", token: { Fixture.token() + "==" }, code: "token_malformed"),
        Attack(name: "payload not JSON", token: { Fixture.token(payload: "{not json") }, code: "token_malformed"),
        Attack(name: "header not JSON", token: { Fixture.token(header: "[1,2") }, code: "token_malformed"),
        Attack(name: "duplicate claims", token: {
            Fixture.token(payload: #"{"iss":"warden","aud":"warden","sub":"agent/a","sub":"agent/b","jti":"j","iat":1800000000,"exp":1800000600}"#)
        }, code: "token_malformed"),
        Attack(name: "duplicate header parameters", token: { Fixture.token(header: #"{"alg":"EdDSA","kid":"a","kid":"b"}"#) },
               code: "token_malformed"),
        Attack(name: "crit header Warden does not understand", token: {
            Fixture.token(header: #"{"alg":"EdDSA","kid":"a","crit":["exp"],"exp":1}"#)
        }, code: "token_crit_unsupported"),
        Attack(name: "two parts", token: { String(Fixture.token().split(separator: ".").dropLast().joined(separator: ".")) },
               code: "token_malformed"),
        Attack(name: "nested token (cty)", token: { Fixture.token(header: #"{"alg":"EdDSA","kid":"a","cty":"JWT"}"#) },
               code: "token_malformed"),
    ]

    @Test(arguments: attacks)
    func refused(_ attack: Attack) {
        #expect(throws: TokenRefusal.self) {
            _ = try TokenVerifier.verify(attack.token(), keys: Fixture.keys, rules: TokenRules(), now: Fixture.now)
        }
        do {
            _ = try TokenVerifier.verify(attack.token(), keys: Fixture.keys, rules: TokenRules(), now: Fixture.now)
        } catch {
            #expect(error.code == attack.code, "\(attack.name): \(error.reason)")
            #expect(!error.reason.isEmpty)
        }
    }

    @Test func validTokenVerifies() throws {
        let v = try TokenVerifier.verify(Fixture.token(), keys: Fixture.keys, rules: TokenRules(), now: Fixture.now)
        #expect(v.subject == Fixture.agentID)
        #expect(v.kid == "a")
        #expect(v.expiresAt == Fixture.now + 900)
        #expect(v.owner == "ana@example.com")
    }

    @Test func leewayAcceptsSmallClockSkew() throws {
        let t = Fixture.token(payload: Fixture.claimsJSON(["nbf": .int(Int(Fixture.now) + 20)]))
        _ = try TokenVerifier.verify(t, keys: Fixture.keys, rules: TokenRules(), now: Fixture.now)
    }

    @Test func hmacWorksOnlyWhenAnHMACKeyIsConfigured() throws {
        let secret = [UInt8](repeating: 7, count: 32)
        let input = Fixture.b64(#"{"alg":"HS256","kid":"shared"}"#) + "." + Fixture.b64(Fixture.claimsJSON())
        let token = input + "." + Base64.encode(Digest.sha256.hmac(key: secret, Array(input.utf8)), url: true, pad: false)
        let keys = ["shared": SigningKey(kid: "shared", algorithm: .hs256, material: .secret(secret), source: "test")]
        _ = try TokenVerifier.verify(token, keys: keys, rules: TokenRules(), now: Fixture.now)
        #expect(throws: TokenRefusal.self) { try TokenVerifier.verify(token, keys: Fixture.keys, rules: TokenRules(), now: Fixture.now) }
    }

    @Test func mintedTokensVerify() throws {
        let claims = try Value.parseJSON(Fixture.claimsJSON())
        guard case .object(let o) = claims else { return }
        let token = try TokenMinter.mint(claims: o, key: Fixture.keyA, kid: "a")
        let v = try TokenVerifier.verify(token, keys: Fixture.keys, rules: TokenRules(), now: Fixture.now)
        #expect(v.jti == "j1")
    }

    @Test func jwksKeysNeedAKidAndAFittingAlgorithm() throws {
        let x = Base64.encode(try Fixture.keyA.publicKey().rawEd25519!, url: true, pad: false)
        let ok = try SigningKey.parseJWKS(#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"\#(x)","kid":"k1"}]}"#, source: "jwks.json")
        #expect(ok.first?.algorithm == .eddsa)
        #expect(throws: CryptoError.self) { try SigningKey.parseJWKS(#"{"kty":"OKP","crv":"Ed25519","x":"\#(x)"}"#, source: "jwks.json") }
        #expect(throws: CryptoError.self) {
            try SigningKey.parseJWKS(#"{"kty":"OKP","crv":"Ed25519","x":"\#(x)","kid":"k","alg":"RS256"}"#, source: "jwks.json")
        }
        #expect(throws: CryptoError.self) { try SigningKey.parseJWKS(#"{"kty":"oct","k":"c2VjcmV0","kid":"k"}"#, source: "jwks.json") }
    }
}
