import Synchronization

/// Tokens whose signature and claims were verified, keyed by the SHA-256 of the token, so
/// a repeated token costs a hash and a lookup instead of a signature check. An entry lives
/// until its token's `exp` (plus leeway) and is dropped when its agent or key is revoked.
///
/// An entry also remembers the admission it led to (`input.agent`) under one registry
/// generation; a newer registry invalidates that memo, so registry checks (kill, expiry,
/// retirement) are redone whenever the registry changes and never served stale.
public final class VerifiedTokenCache: Sendable {
    struct Key: Hashable {
        let a: UInt64, b: UInt64, c: UInt64, d: UInt64
    }

    struct Admission {
        let generation: Int
        let admitted: AgentAdmission
    }

    struct Entry {
        let token: VerifiedToken
        var admission: Admission?
    }

    private let entries: Mutex<[Key: Entry]>
    public let capacity: Int

    public init(capacity: Int = 100_000) {
        self.capacity = capacity
        entries = Mutex([:])
    }

    public var count: Int { entries.withLock { $0.count } }

    static func key(_ token: String) -> Key {
        var token = token
        return token.withUTF8 { bytes in
            var digest = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            withUnsafeMutableBytes(of: &digest) { out in Digest.sha256.hash(UnsafeRawBufferPointer(bytes), into: out) }
            return Key(a: digest.0, b: digest.1, c: digest.2, d: digest.3)
        }
    }

    /// The verified token, while it has not expired.
    func lookup(_ k: Key, now: Int64, leeway: Int64) -> Entry? {
        entries.withLock { map -> Entry? in
            guard let hit = map[k] else { return nil }
            if now >= hit.token.expiresAt + leeway {
                map[k] = nil
                return nil
            }
            return hit
        }
    }

    func insert(_ k: Key, _ verified: VerifiedToken, now: Int64) {
        entries.withLock { map in
            if map.count >= capacity {
                // Drop what has expired; if that is not enough, start over rather than
                // grow without bound (a flood of distinct tokens costs verifications, not memory).
                map = map.filter { $0.value.token.expiresAt > now }
                if map.count >= capacity { map.removeAll(keepingCapacity: true) }
            }
            map[k] = Entry(token: verified)
        }
    }

    func remember(_ k: Key, _ admission: Admission) {
        entries.withLock { map in map[k]?.admission = admission }
    }

    /// Drops entries that must no longer be served: revoked agents, retired or removed keys.
    public func removeAll(where shouldRemove: (VerifiedToken) -> Bool) {
        entries.withLock { map in map = map.filter { !shouldRemove($0.value.token) } }
    }
}
