internal import COpenSSL
import Synchronization

/// Hashes, HMAC, keys and signatures through OpenSSL's libcrypto. C types stay in this
/// file; the rest of Warden sees `Digest`, `PublicKey`, `PrivateKey` and byte arrays.
public enum Digest: Sendable {
    case md5, sha1, sha256, sha384, sha512

    var evp: OpaquePointer {
        switch self {
        case .md5: return Digest.fetched.md5
        case .sha1: return Digest.fetched.sha1
        case .sha256: return Digest.fetched.sha256
        case .sha384: return Digest.fetched.sha384
        case .sha512: return Digest.fetched.sha512
        }
    }

    /// The implementations, fetched from OpenSSL's providers once. With the legacy
    /// `EVP_sha256()` objects, OpenSSL 3 fetches the implementation again on every digest
    /// (a lookup by name under a lock: about 2k instructions, more than hashing a token).
    /// A name a provider does not offer (MD5 under FIPS) keeps the legacy object, which
    /// fails the same way it always did.
    nonisolated(unsafe) private static let fetched = (
        md5: fetch("MD5") ?? EVP_md5()!, sha1: fetch("SHA1") ?? EVP_sha1()!, sha256: fetch("SHA256") ?? EVP_sha256()!,
        sha384: fetch("SHA384") ?? EVP_sha384()!, sha512: fetch("SHA512") ?? EVP_sha512()!
    )

    private static func fetch(_ name: String) -> OpaquePointer? {
        let md = EVP_MD_fetch(nil, name, nil)
        if md == nil { ERR_clear_error() }
        return md
    }

    var length: Int {
        switch self {
        case .md5: return 16
        case .sha1: return 20
        case .sha256: return 32
        case .sha384: return 48
        case .sha512: return 64
        }
    }

    public func hash(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var len: UInt32 = 0
        let ok = data.withUnsafeBytes { d in EVP_Digest(d.baseAddress, d.count, &out, &len, evp, nil) }
        precondition(ok == 1, "EVP_Digest failed")
        return Array(out.prefix(Int(len)))
    }

    /// Writes the digest of `bytes` to `out`, which has room for `length` bytes.
    func hash(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= length, "digest buffer too small")
        var len: UInt32 = 0
        let ok = EVP_Digest(bytes.baseAddress, bytes.count, out.baseAddress!.assumingMemoryBound(to: UInt8.self), &len, evp, nil)
        precondition(ok == 1, "EVP_Digest failed")
    }

    /// The digest of `first` followed by `second`, without joining them.
    public func hash(_ first: [UInt8], _ second: ArraySlice<UInt8>) -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { preconditionFailure("EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var len: UInt32 = 0
        let ok = EVP_DigestInit_ex(ctx, evp, nil) == 1
            && first.withUnsafeBytes { EVP_DigestUpdate(ctx, $0.baseAddress, $0.count) } == 1
            && second.withUnsafeBytes { EVP_DigestUpdate(ctx, $0.baseAddress, $0.count) } == 1
            && EVP_DigestFinal_ex(ctx, &out, &len) == 1
        precondition(ok, "EVP digest failed")
        return Array(out.prefix(Int(len)))
    }

    public func hmac(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var len: UInt32 = 0
        key.withUnsafeBytes { k in
            data.withUnsafeBytes { d in
                _ = HMAC(evp, k.baseAddress, Int32(k.count), d.baseAddress?.assumingMemoryBound(to: UInt8.self), d.count, &out, &len)
            }
        }
        return Array(out.prefix(Int(len)))
    }
}

/// Constant-time comparison, for MACs.
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    if a.isEmpty { return true }
    return a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 } }
}

public struct CryptoError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }

    /// The most recent OpenSSL error, for messages.
    static func openSSL(_ context: String) -> CryptoError {
        let code = ERR_get_error()
        guard code != 0 else { return CryptoError(context) }
        var buf = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buf, buf.count)
        ERR_clear_error()
        return CryptoError("\(context): \(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
    }
}

/// The JWS signature algorithms Warden verifies (RFC 7518, RFC 8037).
public enum SignatureAlgorithm: String, Sendable, CaseIterable {
    case rs256 = "RS256", rs384 = "RS384", rs512 = "RS512"
    case ps256 = "PS256", ps384 = "PS384", ps512 = "PS512"
    case es256 = "ES256", es384 = "ES384", es512 = "ES512"
    case eddsa = "EdDSA"
    case hs256 = "HS256", hs384 = "HS384", hs512 = "HS512"

    var digest: Digest? {
        switch self {
        case .rs256, .ps256, .es256, .hs256: return .sha256
        case .rs384, .ps384, .es384, .hs384: return .sha384
        case .rs512, .ps512, .es512, .hs512: return .sha512
        case .eddsa: return nil
        }
    }

    public var isHMAC: Bool { self == .hs256 || self == .hs384 || self == .hs512 }

    /// The key type this algorithm needs; a key is only ever used with its own kind.
    var keyKind: PublicKey.Kind? {
        switch self {
        case .rs256, .rs384, .rs512, .ps256, .ps384, .ps512: return .rsa
        case .es256, .es384, .es512: return .ec
        case .eddsa: return .ed25519
        case .hs256, .hs384, .hs512: return nil
        }
    }
}

/// A public key held by OpenSSL.
public final class PublicKey: @unchecked Sendable {
    // @unchecked: an EVP_PKEY is not mutated after creation, and OpenSSL allows concurrent
    // verification with one key; it is freed only in deinit.
    let pkey: OpaquePointer
    public let kind: Kind
    /// Ed25519 verification contexts, initialised once and reused: setting one up costs
    /// OpenSSL 3 a provider lookup that takes as long as the signature check itself. A
    /// context serves one thread at a time, so each is taken from the pool for one check.
    private let ed25519Contexts = Mutex<[EVPContext]>([])

    struct EVPContext: @unchecked Sendable {
        // @unchecked: owned by exactly one holder at a time (the pool or one verify call).
        let pointer: OpaquePointer
    }

    public enum Kind: Sendable { case rsa, ec, ed25519 }

    init(pkey: OpaquePointer) throws(CryptoError) {
        self.pkey = pkey
        switch EVP_PKEY_get_base_id(pkey) {
        case EVP_PKEY_RSA, EVP_PKEY_RSA_PSS: kind = .rsa
        case EVP_PKEY_EC: kind = .ec
        case EVP_PKEY_ED25519: kind = .ed25519
        default:
            EVP_PKEY_free(pkey)
            throw CryptoError("unsupported key type")
        }
    }

    deinit {
        ed25519Contexts.withLock { pool in for c in pool { EVP_MD_CTX_free(c.pointer) } }
        EVP_PKEY_free(pkey)
    }

    /// A PEM `CERTIFICATE` (its subject key) or `PUBLIC KEY`.
    public static func pem(_ text: String) throws(CryptoError) -> PublicKey {
        let bytes = Array(text.utf8)
        let pkey: OpaquePointer? = bytes.withUnsafeBytes { b in
            guard let bio = BIO_new_mem_buf(b.baseAddress, Int32(b.count)) else { return nil }
            defer { BIO_free(bio) }
            if text.contains("BEGIN CERTIFICATE") {
                guard let cert = PEM_read_bio_X509(bio, nil, nil, nil) else { return nil }
                defer { X509_free(cert) }
                return X509_get_pubkey(cert)
            }
            return PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        }
        guard let pkey else { throw CryptoError.openSSL("failed to parse a PEM certificate or public key") }
        return try PublicKey(pkey: pkey)
    }

    /// An Ed25519 key from its 32 raw bytes (RFC 8037 `x`).
    public static func ed25519(raw: [UInt8]) throws(CryptoError) -> PublicKey {
        guard raw.count == 32 else { throw CryptoError("Ed25519 public key must be 32 bytes, got \(raw.count)") }
        let pkey = raw.withUnsafeBufferPointer { EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32) }
        guard let pkey else { throw CryptoError.openSSL("invalid Ed25519 public key") }
        return try PublicKey(pkey: pkey)
    }

    /// An RSA key from its modulus and exponent (big-endian bytes).
    public static func rsa(n: [UInt8], e: [UInt8]) throws(CryptoError) -> PublicKey {
        let pkey = n.withUnsafeBufferPointer { nb in
            e.withUnsafeBufferPointer { eb in copenssl_rsa_public_key(nb.baseAddress, nb.count, eb.baseAddress, eb.count) }
        }
        guard let pkey else { throw CryptoError.openSSL("invalid RSA key") }
        return try PublicKey(pkey: pkey)
    }

    /// An EC key on P-256, P-384 or P-521 from its affine coordinates.
    public static func ec(curve: String, x: [UInt8], y: [UInt8]) throws(CryptoError) -> PublicKey {
        let (group, size): (String, Int)
        switch curve {
        case "P-256": (group, size) = ("prime256v1", 32)
        case "P-384": (group, size) = ("secp384r1", 48)
        case "P-521": (group, size) = ("secp521r1", 66)
        default: throw CryptoError("unsupported curve \(curve)")
        }
        guard x.count <= size, y.count <= size else { throw CryptoError("EC coordinates too long for \(curve)") }
        let point = [UInt8(4)] + [UInt8](repeating: 0, count: size - x.count) + x + [UInt8](repeating: 0, count: size - y.count) + y
        let pkey = point.withUnsafeBufferPointer { p in copenssl_ec_public_key(group, p.baseAddress, p.count) }
        guard let pkey else { throw CryptoError.openSSL("invalid EC key for \(curve)") }
        return try PublicKey(pkey: pkey)
    }

    /// Verifies a JWS signature over `message`. A key only verifies its own algorithm family.
    public func verify(_ alg: SignatureAlgorithm, message: [UInt8], signature: [UInt8]) -> Bool {
        guard alg.keyKind == kind else { return false }
        if kind == .ed25519 { return verifyEd25519(message: message, signature: signature) }
        var sig = signature
        if kind == .ec {
            // JWS carries r||s; OpenSSL wants DER.
            guard let der = PublicKey.ecdsaDER(signature) else { return false }
            sig = der
        }
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        var pctx: OpaquePointer?
        guard EVP_DigestVerifyInit(ctx, &pctx, alg.digest?.evp, nil, pkey) == 1 else { ERR_clear_error(); return false }
        if alg == .ps256 || alg == .ps384 || alg == .ps512 {
            guard let pctx, copenssl_set_rsa_pss(pctx, Int32(alg.digest!.length)) > 0 else { ERR_clear_error(); return false }
        }
        let ok = message.withUnsafeBytes { m in
            sig.withUnsafeBytes { s in
                EVP_DigestVerify(ctx, s.baseAddress?.assumingMemoryBound(to: UInt8.self), s.count, m.baseAddress?.assumingMemoryBound(to: UInt8.self), m.count)
            }
        }
        ERR_clear_error()
        return ok == 1
    }

    func verifyEd25519(message: [UInt8], signature: [UInt8]) -> Bool {
        guard signature.count == 64 else { return false }
        var context = ed25519Contexts.withLock { $0.popLast() }
        if context == nil {
            guard let ctx = EVP_MD_CTX_new() else { return false }
            guard EVP_DigestVerifyInit(ctx, nil, nil, nil, pkey) == 1 else {
                EVP_MD_CTX_free(ctx)
                ERR_clear_error()
                return false
            }
            context = EVPContext(pointer: ctx)
        }
        guard let context else { return false }
        let ok = message.withUnsafeBufferPointer { m in
            signature.withUnsafeBufferPointer { s in EVP_DigestVerify(context.pointer, s.baseAddress, s.count, m.baseAddress, m.count) }
        }
        if ok != 1 { ERR_clear_error() }
        // Keep a handful: as many as threads verify at once.
        let kept = ed25519Contexts.withLock { pool -> Bool in
            guard pool.count < 16 else { return false }
            pool.append(context)
            return true
        }
        if !kept { EVP_MD_CTX_free(context.pointer) }
        return ok == 1
    }

    static func ecdsaDER(_ raw: [UInt8]) -> [UInt8]? {
        guard raw.count % 2 == 0, !raw.isEmpty else { return nil }
        let half = raw.count / 2
        guard let esig = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(esig) }
        let r = raw.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32(half), nil) }
        let s = raw.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress! + half, Int32(half), nil) }
        guard let r, let s, ECDSA_SIG_set0(esig, r, s) == 1 else { return nil }
        var out: UnsafeMutablePointer<UInt8>?
        let len = i2d_ECDSA_SIG(esig, &out)
        guard len > 0, let out else { return nil }
        defer { copenssl_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(len)))
    }

    /// The raw public key bytes (Ed25519 only), for JWKs.
    public var rawEd25519: [UInt8]? {
        guard kind == .ed25519 else { return nil }
        var len = 32
        var out = [UInt8](repeating: 0, count: 32)
        guard EVP_PKEY_get_raw_public_key(pkey, &out, &len) == 1 else { return nil }
        return out
    }
}

/// An Ed25519 private key, for `warden keys generate` and `warden token mint`.
public final class PrivateKey: @unchecked Sendable {
    // @unchecked: immutable after creation; freed only in deinit.
    let pkey: OpaquePointer

    init(pkey: OpaquePointer) { self.pkey = pkey }
    deinit { EVP_PKEY_free(pkey) }

    public static func generateEd25519() throws(CryptoError) -> PrivateKey {
        guard let ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nil) else { throw CryptoError.openSSL("no Ed25519 support") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var pkey: OpaquePointer?
        guard EVP_PKEY_keygen_init(ctx) == 1, EVP_PKEY_keygen(ctx, &pkey) == 1, let pkey else { throw CryptoError.openSSL("Ed25519 key generation failed") }
        return PrivateKey(pkey: pkey)
    }

    public static func ed25519(seed: [UInt8]) throws(CryptoError) -> PrivateKey {
        guard seed.count == 32 else { throw CryptoError("Ed25519 private key must be 32 bytes") }
        guard let pkey = seed.withUnsafeBufferPointer({ EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32) }) else {
            throw CryptoError.openSSL("invalid Ed25519 private key")
        }
        return PrivateKey(pkey: pkey)
    }

    public static func pem(_ text: String) throws(CryptoError) -> PrivateKey {
        let bytes = Array(text.utf8)
        let pkey: OpaquePointer? = bytes.withUnsafeBytes { b in
            guard let bio = BIO_new_mem_buf(b.baseAddress, Int32(b.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        guard let pkey else { throw CryptoError.openSSL("failed to parse a PEM private key") }
        guard EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519 else {
            EVP_PKEY_free(pkey)
            throw CryptoError("only Ed25519 private keys are supported")
        }
        return PrivateKey(pkey: pkey)
    }

    public var seed: [UInt8] {
        var len = 32
        var out = [UInt8](repeating: 0, count: 32)
        _ = EVP_PKEY_get_raw_private_key(pkey, &out, &len)
        return out
    }

    public func publicKey() throws(CryptoError) -> PublicKey {
        var len = 32
        var raw = [UInt8](repeating: 0, count: 32)
        guard EVP_PKEY_get_raw_public_key(pkey, &raw, &len) == 1 else { throw CryptoError.openSSL("cannot derive public key") }
        return try PublicKey.ed25519(raw: raw)
    }

    public func sign(_ message: [UInt8]) throws(CryptoError) -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw CryptoError("out of memory") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, nil, nil, pkey) == 1 else { throw CryptoError.openSSL("sign init failed") }
        var sig = [UInt8](repeating: 0, count: 64)
        var len = 64
        let ok = message.withUnsafeBytes { m in
            EVP_DigestSign(ctx, &sig, &len, m.baseAddress?.assumingMemoryBound(to: UInt8.self), m.count)
        }
        guard ok == 1 else { throw CryptoError.openSSL("Ed25519 signing failed") }
        return Array(sig.prefix(len))
    }

    /// PKCS#8 PEM, as `openssl genpkey -algorithm ed25519` writes it.
    public func pemText() -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        PEM_write_bio_PrivateKey(bio, pkey, nil, nil, 0, nil, nil)
        var ptr: UnsafeMutablePointer<CChar>?
        let len = BIO_ctrl(bio, BIO_CTRL_INFO, 0, &ptr)
        guard let ptr, len > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: ptr, count: len), as: UTF8.self)
    }
}

extension PublicKey {
    /// SubjectPublicKeyInfo PEM.
    public func pemText() -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        PEM_write_bio_PUBKEY(bio, pkey)
        var ptr: UnsafeMutablePointer<CChar>?
        let len = BIO_ctrl(bio, BIO_CTRL_INFO, 0, &ptr)
        guard let ptr, len > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: ptr, count: len), as: UTF8.self)
    }
}

/// Random bytes from OpenSSL's CSPRNG.
public func secureRandomBytes(_ n: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: n)
    _ = RAND_bytes(&out, Int32(n))
    return out
}
