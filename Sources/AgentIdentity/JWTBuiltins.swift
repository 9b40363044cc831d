public import Rego

/// Rego's token and hash builtins (`io.jwt.*`, `crypto.*`), implemented over OpenSSL and
/// registered into the engine from here, so the Rego core links no C.
public enum RegoCryptoBuiltins {
    public static var all: [Builtin] {
        var list: [Builtin] = [
            Builtin("io.jwt.decode", arity: 1) { a, _ in
                let t = try JWS.decodeForRego(try string(a, 0))
                return .array([t.header, t.payload, .string(Hex.encode(t.signature))])
            },
            Builtin("io.jwt.decode_verify", arity: 2) { a, ctx in
                try decodeVerify(try string(a, 0), try object(a, 1), nowNs: ctx.nowNs)
            },
            Builtin("crypto.md5", arity: 1) { a, _ in .string(Hex.encode(Digest.md5.hash(Array(try string(a, 0).utf8)))) },
            Builtin("crypto.sha1", arity: 1) { a, _ in .string(Hex.encode(Digest.sha1.hash(Array(try string(a, 0).utf8)))) },
            Builtin("crypto.sha256", arity: 1) { a, _ in .string(Hex.encode(Digest.sha256.hash(Array(try string(a, 0).utf8)))) },
            Builtin("crypto.sha512", arity: 1) { a, _ in .string(Hex.encode(Digest.sha512.hash(Array(try string(a, 0).utf8)))) },
            Builtin("crypto.hmac.equal", arity: 2) { a, _ in
                .bool(constantTimeEqual(Array(try string(a, 0).utf8), Array(try string(a, 1).utf8)))
            },
        ]
        for (name, digest) in [("md5", Digest.md5), ("sha1", .sha1), ("sha256", .sha256), ("sha512", .sha512)] {
            list.append(Builtin("crypto.hmac.\(name)", arity: 2) { a, _ in
                .string(Hex.encode(digest.hmac(key: Array(try string(a, 1).utf8), Array(try string(a, 0).utf8))))
            })
        }
        for alg in SignatureAlgorithm.allCases {
            let name = "io.jwt.verify_" + alg.rawValue.lowercased()
            list.append(Builtin(name, arity: 2) { a, _ in
                let token = try JWS.parse(try string(a, 0))
                let key = try string(a, 1)
                if alg.isHMAC {
                    return .bool(token.verifyHMAC(alg, secret: Array(key.utf8)))
                }
                let keys: [JWK]
                do { keys = try JWK.parseKeys(key) } catch { throw BuiltinError.failure("\(error)") }
                return .bool(keys.contains { token.verify(alg, with: $0.key) })
            })
        }
        return list
    }

    static func string(_ a: [Value], _ i: Int) throws(BuiltinError) -> String {
        if case .string(let s) = a[i] { return s }
        throw BuiltinError.operand(i + 1, "string", a[i])
    }

    static func object(_ a: [Value], _ i: Int) throws(BuiltinError) -> RegoObject {
        if case .object(let o) = a[i] { return o }
        throw BuiltinError.operand(i + 1, "object", a[i])
    }

    static let invalid: Value = .array([.false, .emptyObject, .emptyObject])

    /// `io.jwt.decode_verify`: signature, algorithm, time window, issuer and audience.
    static func decodeVerify(_ token: String, _ constraints: RegoObject, nowNs: Int) throws(BuiltinError) -> Value {
        var cert: String?, secret: String?, alg: String?, iss: String?, aud: String?
        var time = Double(nowNs)
        for e in constraints.entries {
            guard case .string(let k) = e.key else { throw BuiltinError.failure("token validation constraint keys must be strings") }
            switch (k, e.value) {
            case ("cert", .string(let s)): cert = s
            case ("secret", .string(let s)): secret = s
            case ("alg", .string(let s)): alg = s
            case ("iss", .string(let s)): iss = s
            case ("aud", .string(let s)): aud = s
            case ("time", .number(let n)): time = n.doubleValue
            case ("cert", _), ("secret", _), ("alg", _), ("iss", _), ("aud", _), ("time", _):
                throw BuiltinError.failure("invalid value for token validation constraint \(k)")
            default:
                throw BuiltinError.failure("unknown token validation constraint: \(k)")
            }
        }
        if cert == nil && secret == nil { throw BuiltinError.failure("no signing key provided") }
        let parsed = try JWS.parse(token)
        // Nested tokens (cty: JWT) are verified at the outer level, then decoded through.
        guard case .string(let headerAlg)? = parsed.header["alg"], let sigAlg = SignatureAlgorithm(rawValue: headerAlg) else { return invalid }
        if let alg, alg != headerAlg { return invalid }
        // No JWS extensions are understood, so a token that makes any critical is refused.
        if parsed.header["crit"] != nil { return invalid }
        var verified = false
        if let secret, sigAlg.isHMAC {
            verified = parsed.verifyHMAC(sigAlg, secret: Array(secret.utf8))
        } else if let cert, !sigAlg.isHMAC {
            guard let keys = try? JWK.parseKeys(cert) else { return invalid }
            let kid: String? = { if case .string(let k)? = parsed.header["kid"] { return k } else { return nil } }()
            verified = keys.contains { k in (kid == nil || k.kid == nil || k.kid == kid) && parsed.verify(sigAlg, with: k.key) }
        }
        if !verified { return invalid }
        let decoded = try JWS.decodeForRego(token)
        guard case .object(let claims) = decoded.payload else { return invalid }
        if let exp = claims["exp"] {
            guard case .number(let n) = exp else { return invalid }
            if time >= n.doubleValue * 1e9 { return invalid }
        }
        if let nbf = claims["nbf"] {
            guard case .number(let n) = nbf else { return invalid }
            if time < n.doubleValue * 1e9 { return invalid }
        }
        if let iss {
            guard case .string(let s)? = claims["iss"], s == iss else { return invalid }
        }
        switch claims["aud"] {
        case nil:
            if aud != nil { return invalid }
        case .string(let s)?:
            guard let aud, s == aud else { return invalid }
        case .array(let xs)?:
            guard let aud, xs.contains(.string(aud)) else { return invalid }
        default:
            return invalid
        }
        return .array([.true, decoded.header, decoded.payload])
    }
}

/// A JWS in compact serialisation, split and decoded but not yet verified.
struct JWS {
    let header: RegoObject
    let headerValue: Value
    let payloadBytes: [UInt8]
    let signature: [UInt8]
    /// `base64url(header) "." base64url(payload)`: what the signature covers.
    let signingInput: [UInt8]

    static func parse(_ token: String) throws(BuiltinError) -> JWS {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 1 { throw BuiltinError.failure("encoded JWT had no period separators") }
        guard parts.count == 3 else { throw BuiltinError.failure("encoded JWT must have 3 sections, found \(parts.count)") }
        func decodePart(_ i: Int, _ name: String) throws(BuiltinError) -> [UInt8] {
            let text = String(parts[i])
            guard let b = Base64.decode(text, url: true, requirePadding: false) else {
                throw BuiltinError.failure("JWT \(name) had invalid encoding: illegal base64 data at input byte \(Base64.errorOffset(text, url: true))")
            }
            return b
        }
        let h = try decodePart(0, "header")
        let headerValue: Value
        do { headerValue = try Value.parseJSON(bytes: h) } catch { throw BuiltinError.failure("JWT header had invalid encoding: \(error)") }
        guard case .object(let header) = headerValue else { throw BuiltinError.failure("JWT header must be a JSON object") }
        let p = try decodePart(1, "payload")
        let s = try decodePart(2, "signature")
        return JWS(header: header, headerValue: headerValue, payloadBytes: p, signature: s,
                   signingInput: Array(parts[0].utf8) + [UInt8(ascii: ".")] + Array(parts[1].utf8))
    }

    /// `io.jwt.decode`'s view: header, payload (nested tokens decoded through), signature.
    static func decodeForRego(_ token: String) throws(BuiltinError) -> (header: Value, payload: Value, signature: [UInt8]) {
        let t = try parse(token)
        if t.header["enc"] != nil { throw BuiltinError.failure("JWT is a JWE object, which is not supported") }
        if case .string(let cty)? = t.header["cty"], cty.uppercased() == "JWT" {
            // The inner token, as a JSON string or as plain text.
            if case .string(let inner)? = try? Value.parseJSON(bytes: t.payloadBytes) { return try decodeForRego(inner) }
            return try decodeForRego(String(decoding: t.payloadBytes, as: UTF8.self))
        }
        let payload: Value
        do { payload = try Value.parseJSON(bytes: t.payloadBytes) } catch {
            throw BuiltinError.failure("type is JWT but payload is not JSON")
        }
        return (t.headerValue, payload, t.signature)
    }

    func verify(_ alg: SignatureAlgorithm, with key: PublicKey) -> Bool {
        key.verify(alg, message: signingInput, signature: signature)
    }

    func verifyHMAC(_ alg: SignatureAlgorithm, secret: [UInt8]) -> Bool {
        guard alg.isHMAC, let d = alg.digest else { return false }
        return constantTimeEqual(d.hmac(key: secret, signingInput), signature)
    }
}

/// A public key from a JWK, with its `kid` and `alg` when given.
public struct JWK: Sendable {
    public let key: PublicKey
    public let kid: String?
    public let alg: String?

    /// A PEM certificate or public key, a JWK, or a JWK Set.
    static func parseKeys(_ text: String) throws -> [JWK] {
        let trimmed = text.drop { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        if trimmed.hasPrefix("-----BEGIN") {
            return [JWK(key: try PublicKey.pem(text), kid: nil, alg: nil)]
        }
        let v = try Value.parseJSON(text)
        guard case .object(let o) = v else { throw CryptoError("key must be a PEM block, a JWK or a JWK Set") }
        if case .array(let keys)? = o["keys"] {
            return keys.compactMap { k -> JWK? in
                guard case .object(let ko) = k else { return nil }
                return try? fromJWK(ko)
            }
        }
        return [try fromJWK(o)]
    }

    public static func fromJWK(_ o: RegoObject) throws -> JWK {
        func field(_ name: String) throws -> [UInt8] {
            guard case .string(let s)? = o[name], let b = Base64.decode(s, url: true, requirePadding: false) else {
                throw CryptoError("JWK is missing \"\(name)\"")
            }
            return b
        }
        let kid: String? = { if case .string(let s)? = o["kid"] { return s } else { return nil } }()
        let alg: String? = { if case .string(let s)? = o["alg"] { return s } else { return nil } }()
        guard case .string(let kty)? = o["kty"] else { throw CryptoError("JWK is missing \"kty\"") }
        switch kty {
        case "RSA":
            return JWK(key: try PublicKey.rsa(n: try field("n"), e: try field("e")), kid: kid, alg: alg)
        case "EC":
            guard case .string(let crv)? = o["crv"] else { throw CryptoError("EC JWK is missing \"crv\"") }
            return JWK(key: try PublicKey.ec(curve: crv, x: try field("x"), y: try field("y")), kid: kid, alg: alg)
        case "OKP":
            guard case .string("Ed25519")? = o["crv"] else { throw CryptoError("only the Ed25519 curve is supported for OKP keys") }
            return JWK(key: try PublicKey.ed25519(raw: try field("x")), kid: kid, alg: alg)
        default:
            throw CryptoError("unsupported JWK key type \(kty)")
        }
    }
}
