internal import CRE2
import Synchronization

/// A compiled RE2 regular expression: linear-time matching, so a pattern or input from an
/// agent's request cannot make evaluation exponential.
final class RE2Regex: @unchecked Sendable {
    // @unchecked: RE2 objects are immutable after compilation and documented thread-safe
    // for concurrent matching; the pointer is freed only in deinit.
    private let handle: OpaquePointer
    let groups: Int

    struct CompileError: Error, CustomStringConvertible {
        let description: String
    }

    init(_ pattern: String) throws(CompileError) {
        var error = [CChar](repeating: 0, count: 256)
        let bytes = Array(pattern.utf8)
        let h = bytes.withUnsafeBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(1, p.count)) { cre2_compile($0, p.count, &error, error.count) }
        }
        guard let h else {
            let message = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw CompileError(description: "error parsing regexp: \(message): `\(pattern)`")
        }
        handle = h
        groups = Int(cre2_groups(h))
    }

    deinit { cre2_free(handle) }

    /// Leftmost match at or after `start` (a byte offset); group offsets, -1 when unset.
    func find(_ text: [UInt8], from start: Int) -> [Int]? {
        var offsets = [Int](repeating: -1, count: 2 * (groups + 1))
        let found = text.withUnsafeBufferPointer { t -> Bool in
            let base = t.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) } ?? UnsafePointer<CChar>(bitPattern: 1)!
            return offsets.withUnsafeMutableBufferPointer { o in
                cre2_find(handle, base, t.count, start, o.baseAddress!)
            }
        }
        return found ? offsets : nil
    }

    /// Go's FindAll: successive non-overlapping matches; an empty match right after the
    /// previous one is skipped. `limit` < 0 means all.
    func findAll(_ text: [UInt8], limit: Int) -> [[Int]] {
        var out: [[Int]] = []
        var pos = 0
        var prevEnd = -1
        while (limit < 0 || out.count < limit) && pos <= text.count {
            guard let m = find(text, from: pos) else { break }
            var accept = true
            if m[1] == pos {
                if m[0] == prevEnd { accept = false }
                pos += RE2Regex.runeWidth(text, at: pos)
            } else {
                pos = m[1]
            }
            prevEnd = m[1]
            if accept { out.append(m) }
        }
        return out
    }

    static func runeWidth(_ text: [UInt8], at i: Int) -> Int {
        guard i < text.count else { return 1 }
        let b = text[i]
        if b < 0x80 { return 1 }
        if b >= 0xF0 { return 4 }
        if b >= 0xE0 { return 3 }
        if b >= 0xC0 { return 2 }
        return 1
    }

    // MARK: - A bounded cache of compiled patterns, shared by all evaluations

    private static let cache = Mutex<[String: RE2Regex]>([:])
    private static let cacheLimit = 256

    static func compiled(_ pattern: String) throws(CompileError) -> RE2Regex {
        if let r = cache.withLock({ $0[pattern] }) { return r }
        let r = try RE2Regex(pattern)
        cache.withLock { c in
            if c.count >= cacheLimit { c.removeAll(keepingCapacity: true) }
            c[pattern] = r
        }
        return r
    }
}
