public import Rego

// MARK: - Keys

/// A verification key with its `kid` and the one algorithm it may be used with.
public struct SigningKey: Sendable {
    public enum Material: Sendable {
        case publicKey(PublicKey)
        /// An HMAC secret: only when an operator configured one explicitly (a JWKS `oct` key).
        case secret([UInt8])
    }

    public let kid: String
    public let algorithm: SignatureAlgorithm
    public let material: Material
    /// Unix seconds when it was retired; its tokens are refused from then on.
    public var retiredAt: Int64?
    /// Where it came from, for messages: a file path or "database".
    public let source: String

    public init(kid: String, algorithm: SignatureAlgorithm, material: Material, retiredAt: Int64? = nil, source: String) {
        self.kid = kid
        self.algorithm = algorithm
        self.material = material
        self.retiredAt = retiredAt
        self.source = source
    }

    /// A key from one JWK. The algorithm comes from `alg`, or from the key type where only one
    /// fits (OKP Ed25519 → EdDSA, EC P-256 → ES256 …); RSA and `oct` keys must name theirs.
    public static func fromJWK(_ o: RegoObject, source: String, retiredAt: Int64? = nil) throws(CryptoError) -> SigningKey {
        guard case .string(let kid)? = o["kid"], !kid.isEmpty else { throw CryptoError("\(source): a JWK without a \"kid\"; every key needs one") }
        let named: SignatureAlgorithm?
        switch o["alg"] {
        case nil: named = nil
        case .string(let a)?:
            guard let alg = SignatureAlgorithm(rawValue: a) else { throw CryptoError("\(source): key \(kid) has an unsupported alg \(a)") }
            named = alg
        default: throw CryptoError("\(source): key \(kid): alg must be a string")
        }
        if case .string("oct")? = o["kty"] {
            guard let alg = named, alg.isHMAC else { throw CryptoError("\(source): key \(kid) is an oct (HMAC) key: it must name alg HS256, HS384 or HS512") }
            guard case .string(let k)? = o["k"], let secret = Base64.decode(k, url: true, requirePadding: false), secret.count >= 32 else {
                throw CryptoError("\(source): key \(kid): \"k\" must hold at least 32 bytes, base64url")
            }
            return SigningKey(kid: kid, algorithm: alg, material: .secret(secret), retiredAt: retiredAt, source: source)
        }
        let jwk: JWK
        do { jwk = try JWK.fromJWK(o) } catch let e as CryptoError { throw CryptoError("\(source): key \(kid): \(e.description)") } catch {
            throw CryptoError("\(source): key \(kid): \(error)")
        }
        let implied: SignatureAlgorithm?
        switch jwk.key.kind {
        case .ed25519: implied = .eddsa
        case .ec:
            switch o["crv"] {
            case .string("P-256")?: implied = .es256
            case .string("P-384")?: implied = .es384
            default: implied = .es512
            }
        case .rsa: implied = nil
        }
        guard let alg = named ?? implied else { throw CryptoError("\(source): key \(kid) is an RSA key: it must name its alg (RS256, PS256, …)") }
        guard alg.keyKind == jwk.key.kind else { throw CryptoError("\(source): key \(kid): alg \(alg.rawValue) does not fit a key of this type") }
        return SigningKey(kid: kid, algorithm: alg, material: .publicKey(jwk.key), retiredAt: retiredAt, source: source)
    }

    /// Every key in a JWK Set (`{"keys": [...]}`) or a single JWK.
    public static func parseJWKS(_ text: String, source: String) throws(CryptoError) -> [SigningKey] {
        let v: Value
        do { v = try Value.parseJSON(text, rejectDuplicateKeys: true) } catch { throw CryptoError("\(source): not JSON: \(error)") }
        guard case .object(let o) = v else { throw CryptoError("\(source): a JWK Set must be a JSON object") }
        guard let keys = o["keys"] else { return [try fromJWK(o, source: source)] }
        guard case .array(let list) = keys else { throw CryptoError("\(source): \"keys\" must be an array") }
        var out: [SigningKey] = []
        for (i, k) in list.enumerated() {
            guard case .object(let ko) = k else { throw CryptoError("\(source): keys[\(i)] must be a JSON object") }
            out.append(try fromJWK(ko, source: source))
        }
        return out
    }
}

/// The public JWK of an Ed25519 key, with its RFC 7638 thumbprint as the default `kid`.
public enum Ed25519JWK {
    public static func publicJWK(_ key: PublicKey, kid: String? = nil) -> RegoObject {
        let x = Base64.encode(key.rawEd25519 ?? [], url: true, pad: false)
        return RegoObject(fields: [
            "kty": .string("OKP"), "crv": .string("Ed25519"), "x": .string(x),
            "kid": .string(kid ?? thumbprint(key)), "alg": .string("EdDSA"), "use": .string("sig"),
        ])
    }

    /// RFC 7638: base64url(SHA-256 of the required members in lexical order).
    public static func thumbprint(_ key: PublicKey) -> String {
        let x = Base64.encode(key.rawEd25519 ?? [], url: true, pad: false)
        let canonical = "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"\(x)\"}"
        return Base64.encode(Digest.sha256.hash(Array(canonical.utf8)), url: true, pad: false)
    }
}

// MARK: - Rules and results

/// What a token must satisfy beyond its signature.
public struct TokenRules: Sendable {
    public var issuer = "warden"
    public var audience = "warden"
    /// Clock skew tolerated on exp, nbf and iat.
    public var leewaySeconds: Int64 = 30
    /// `exp - iat` above this is refused, so long-lived tokens cannot be used.
    public var maxLifetimeSeconds: Int64 = 3600
    public var maxTokenBytes = 8192

    public init() {}
}

/// A token whose signature and claims checked out. A class: the cache and every request
/// that presents the token share one.
public final class VerifiedToken: Sendable {
    public let subject: String
    public let jti: String
    public let kid: String
    public let issuedAt: Int64
    public let expiresAt: Int64
    public let owner: String?
    public let tenant: String?
    public let scope: [String]?
    /// `input.agent.token`, built once when verified.
    public let regoValue: Value

    init(subject: String, jti: String, kid: String, issuedAt: Int64, expiresAt: Int64, owner: String?, tenant: String?,
         scope: [String]?, regoValue: Value) {
        self.subject = subject
        self.jti = jti
        self.kid = kid
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.owner = owner
        self.tenant = tenant
        self.scope = scope
        self.regoValue = regoValue
    }
}

/// Why a token was refused: a stable code and a precise reason.
public struct TokenRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: String
    public let reason: String
    public init(_ code: String, _ reason: String) {
        self.code = code
        self.reason = reason
    }
    public var description: String { "\(code): \(reason)" }
}

// MARK: - Verification

/// Verifies JWS compact tokens: structure, header, key, signature, then claims. Each
/// refusal names the step that failed.
public enum TokenVerifier {
    /// Header parameters Warden understands; `crit` naming anything is refused (RFC 7515 §4.1.11).
    static let understoodHeaders: Set<String> = ["alg", "kid", "typ", "cty"]

    public static func verify(_ token: String, keys: [String: SigningKey], rules: TokenRules, now: Int64) throws(TokenRefusal) -> VerifiedToken {
        // Bytes throughout: a token is ASCII, and walking it as Characters costs more than
        // the signature check.
        var token = token
        let result = token.withUTF8 { bytes in
            Result { () throws(TokenRefusal) -> VerifiedToken in try verify(bytes: bytes, keys: keys, rules: rules, now: now) }
        }
        return try result.get()
    }

    static func verify(bytes: UnsafeBufferPointer<UInt8>, keys: [String: SigningKey], rules: TokenRules, now: Int64) throws(TokenRefusal) -> VerifiedToken {
        guard bytes.count <= rules.maxTokenBytes else {
            throw TokenRefusal("token_oversized", "the token is \(bytes.count) bytes; the limit is \(rules.maxTokenBytes)")
        }
        let dot = UInt8(ascii: ".")
        var dots: [Int] = []
        for (i, b) in bytes.enumerated() where b == dot {
            dots.append(i)
            if dots.count > 2 { break }
        }
        guard dots.count == 2 else {
            let parts = bytes.split(separator: dot, omittingEmptySubsequences: false).count
            throw TokenRefusal("token_malformed", "a JWS compact token has 3 dot-separated parts; this one has \(parts)")
        }
        let headerPart = bytes[..<dots[0]], payloadPart = bytes[(dots[0] + 1)..<dots[1]], signaturePart = bytes[(dots[1] + 1)...]
        let header = try jsonObject(try base64url(headerPart, "header"), "header")
        guard case .string(let algName)? = header["alg"] else { throw TokenRefusal("token_malformed", "the header has no \"alg\"") }
        if algName.lowercased() == "none" { throw TokenRefusal("token_alg_refused", "alg \"none\" (an unsigned token) is always refused") }
        if let crit = header["crit"] {
            throw TokenRefusal("token_crit_unsupported", "the header marks \(crit.jsonString()) critical; Warden understands no JWS extensions")
        }
        if case .string(let typ)? = header["typ"], !["jwt", "at+jwt"].contains(typ.lowercased()) {
            throw TokenRefusal("token_malformed", "typ \"\(typ)\" is not a JWT")
        }
        if header["cty"] != nil { throw TokenRefusal("token_malformed", "nested tokens (cty) are not accepted") }
        guard case .string(let kid)? = header["kid"], !kid.isEmpty else {
            throw TokenRefusal("token_malformed", "the header has no \"kid\"; Warden picks the key by kid")
        }
        guard let key = keys[kid] else { throw TokenRefusal("token_unknown_key", "no key with kid \"\(kid)\" is configured") }
        guard let alg = SignatureAlgorithm(rawValue: algName) else {
            throw TokenRefusal("token_alg_refused", "alg \"\(algName)\" is not supported")
        }
        // A key is only ever used with its own algorithm: this is what stops an HS256 token
        // "signed" with a public key, or an RS256 token presented for an Ed25519 kid.
        guard alg == key.algorithm else {
            throw TokenRefusal("token_alg_refused", "alg \(algName) does not match key \(kid), which is for \(key.algorithm.rawValue) only")
        }
        if let retired = key.retiredAt, retired <= now {
            throw TokenRefusal("token_key_retired", "key \(kid) was retired at \(RFC3339.format(seconds: Int(retired), nanos: 0))")
        }
        let payloadBytes = try base64url(payloadPart, "payload")
        let signature = try base64url(signaturePart, "signature")
        let signingInput = Array(bytes[..<dots[1]])
        let valid: Bool
        switch key.material {
        case .publicKey(let k): valid = k.verify(alg, message: signingInput, signature: signature)
        case .secret(let s): valid = alg.digest.map { constantTimeEqual($0.hmac(key: s, signingInput), signature) } ?? false
        }
        guard valid else { throw TokenRefusal("token_bad_signature", "the signature does not verify with key \(kid)") }

        let claims = try jsonObject(payloadBytes, "payload")
        return try checkClaims(claims, kid: kid, rules: rules, now: now)
    }

    static func checkClaims(_ c: RegoObject, kid: String, rules: TokenRules, now: Int64) throws(TokenRefusal) -> VerifiedToken {
        guard case .string(let iss)? = c["iss"] else { throw TokenRefusal("token_claims_invalid", "the token has no \"iss\" (issuer)") }
        guard iss == rules.issuer else { throw TokenRefusal("token_wrong_issuer", "issuer \"\(iss)\" is not the configured issuer \"\(rules.issuer)\"") }
        switch c["aud"] {
        case .string(let a)? where a == rules.audience: break
        case .array(let list)? where list.contains(.string(rules.audience)): break
        case nil: throw TokenRefusal("token_wrong_audience", "the token has no \"aud\"; it must name \"\(rules.audience)\"")
        case let other?: throw TokenRefusal("token_wrong_audience", "audience \(other.jsonString()) does not include \"\(rules.audience)\"")
        }
        let exp = try numericDate(c, "exp", required: true)!
        let iat = try numericDate(c, "iat", required: true)!
        let nbf = try numericDate(c, "nbf", required: false)
        if now >= exp + rules.leewaySeconds {
            throw TokenRefusal("token_expired", "the token expired at \(RFC3339.format(seconds: Int(exp), nanos: 0))")
        }
        if let nbf, now + rules.leewaySeconds < nbf {
            throw TokenRefusal("token_not_yet_valid", "the token is not valid before \(RFC3339.format(seconds: Int(nbf), nanos: 0))")
        }
        if now + rules.leewaySeconds < iat {
            throw TokenRefusal("token_not_yet_valid", "the token claims to be issued in the future (iat \(RFC3339.format(seconds: Int(iat), nanos: 0)))")
        }
        if exp - iat > rules.maxLifetimeSeconds {
            throw TokenRefusal("token_lifetime_too_long", "the token lives \(exp - iat) s (exp - iat); the limit is \(rules.maxLifetimeSeconds) s: mint a shorter-lived one")
        }
        guard case .string(let sub)? = c["sub"], !sub.isEmpty else { throw TokenRefusal("token_claims_invalid", "the token has no \"sub\" (the agent id)") }
        guard case .string(let jti)? = c["jti"], !jti.isEmpty else { throw TokenRefusal("token_claims_invalid", "the token has no \"jti\" (token id)") }
        let owner = try optionalString(c, "owner")
        let tenant = try optionalString(c, "tenant")
        var scope: [String]?
        switch c["scope"] {
        case nil: scope = nil
        case .string(let s)?: scope = s.split(separator: " ").map(String.init)
        case .array(let a)?:
            scope = []
            for x in a {
                guard case .string(let s) = x else { throw TokenRefusal("token_claims_invalid", "\"scope\" must hold strings") }
                scope!.append(s)
            }
        default: throw TokenRefusal("token_claims_invalid", "\"scope\" must be a space-separated string or an array of strings")
        }
        var fields: [String: Value] = [
            "iss": .string(iss), "sub": .string(sub), "jti": .string(jti), "kid": .string(kid),
            "iat": .number(.int(Int(iat))), "exp": .number(.int(Int(exp))),
        ]
        if let owner { fields["owner"] = .string(owner) }
        if let tenant { fields["tenant"] = .string(tenant) }
        if let scope { fields["scope"] = .array(scope.map { .string($0) }) }
        return VerifiedToken(subject: sub, jti: jti, kid: kid, issuedAt: iat, expiresAt: exp, owner: owner, tenant: tenant,
                             scope: scope, regoValue: .object(RegoObject(fields: fields)))
    }

    static func numericDate(_ c: RegoObject, _ name: String, required: Bool) throws(TokenRefusal) -> Int64? {
        switch c[name] {
        case nil:
            if required { throw TokenRefusal("token_claims_invalid", "the token has no \"\(name)\"") }
            return nil
        case .number(let n)?:
            let d = n.doubleValue
            guard d.isFinite, abs(d) < 1e15 else { throw TokenRefusal("token_claims_invalid", "\"\(name)\" is out of range") }
            return Int64(d.rounded(.down))
        case let other?:
            throw TokenRefusal("token_claims_invalid", "\"\(name)\" must be a number of seconds, got \(other.typeName)")
        }
    }

    static func optionalString(_ c: RegoObject, _ name: String) throws(TokenRefusal) -> String? {
        switch c[name] {
        case nil: return nil
        case .string(let s)?: return s
        case let other?: throw TokenRefusal("token_claims_invalid", "\"\(name)\" must be a string, got \(other.typeName)")
        }
    }

    /// Strict base64url: the URL alphabet, no padding, no stray bits.
    static func base64url(_ part: Slice<UnsafeBufferPointer<UInt8>>, _ name: String) throws(TokenRefusal) -> [UInt8] {
        guard !part.isEmpty else { throw TokenRefusal("token_malformed", "the \(name) is empty") }
        guard let bytes = Base64.decodeURLStrict(UnsafeBufferPointer(rebasing: part)) else {
            let text = String(decoding: part, as: UTF8.self)
            throw TokenRefusal("token_malformed", "the \(name) is not valid base64url (at byte \(Base64.errorOffset(text, url: true)))")
        }
        return bytes
    }

    static func jsonObject(_ bytes: [UInt8], _ name: String) throws(TokenRefusal) -> RegoObject {
        let v: Value
        do { v = try Value.parseJSON(bytes: bytes, rejectDuplicateKeys: true, maxDepth: 16) } catch {
            throw TokenRefusal("token_malformed", "the \(name) is not valid JSON: \(error)")
        }
        guard case .object(let o) = v else { throw TokenRefusal("token_malformed", "the \(name) must be a JSON object") }
        return o
    }
}

// MARK: - Minting

/// Issues EdDSA tokens (`warden token mint`).
public enum TokenMinter {
    public static func mint(claims: RegoObject, key: PrivateKey, kid: String) throws(CryptoError) -> String {
        let header = Value.object(RegoObject(fields: ["alg": .string("EdDSA"), "typ": .string("JWT"), "kid": .string(kid)]))
        let signingInput = Base64.encode(Array(header.jsonString().utf8), url: true, pad: false) + "."
            + Base64.encode(Array(Value.object(claims).jsonString().utf8), url: true, pad: false)
        let signature = try key.sign(Array(signingInput.utf8))
        return signingInput + "." + Base64.encode(signature, url: true, pad: false)
    }
}
