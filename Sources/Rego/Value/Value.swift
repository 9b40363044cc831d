/// A Rego value: JSON plus sets, and objects whose keys may be any value.
///
/// Collections are value types (copy-on-write arrays inside), so a prepared policy's data
/// can be shared across threads and a request never sees another's changes.
public enum Value: Sendable {
    case null
    case bool(Bool)
    case number(Number)
    case string(String)
    case array([Value])
    case object(RegoObject)
    case set(RegoSet)

    public static let `true` = Value.bool(true)
    public static let `false` = Value.bool(false)
    public static let emptyObject = Value.object(RegoObject())
    public static let emptySet = Value.set(RegoSet())

    public static func int(_ i: Int) -> Value { .number(.int(i)) }

    /// OPA's type names, as `type_name` returns them and errors print them.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        case .set: return "set"
        }
    }

    /// Rank in OPA's total order: null < boolean < number < string < array < object < set.
    var sortRank: Int {
        switch self {
        case .null: return 0
        case .bool: return 1
        case .number: return 2
        case .string: return 3
        case .array: return 6
        case .object: return 7
        case .set: return 8
        }
    }

    /// Elements of a collection (0 for scalars): what iterating it costs.
    public var count: Int {
        switch self {
        case .array(let a): return a.count
        case .object(let o): return o.count
        case .set(let s): return s.count
        default: return 0
        }
    }

    public var isFalse: Bool {
        if case .bool(false) = self { return true }
        return false
    }

    // MARK: - Indexing

    /// `value[key]` as a Rego reference reads it: array index, object key, set member.
    public subscript(key: Value) -> Value? {
        switch self {
        case .array(let a):
            guard case .number(let n) = key, let i = n.intValue, n.isInteger, i >= 0, i < a.count else { return nil }
            return a[i]
        case .object(let o):
            return o[key]
        case .set(let s):
            return s.contains(key) ? key : nil
        default:
            return nil
        }
    }

    public subscript(field: String) -> Value? {
        if case .object(let o) = self { return o[.string(field)] }
        return nil
    }
}

// MARK: - Ordering and equality

extension Value: Comparable, Hashable {
    /// OPA's `ast.Compare`: a total order over all values.
    public static func compare(_ a: Value, _ b: Value) -> Int {
        switch (a, b) {
        case (.null, .null): return 0
        case (.bool(let x), .bool(let y)): return x == y ? 0 : (!x ? -1 : 1)
        case (.number(let x), .number(let y)): return Number.compare(x, y)
        case (.string(let x), .string(let y)): return compareStrings(x, y)
        case (.array(let x), .array(let y)):
            let n = min(x.count, y.count)
            for i in 0..<n {
                let c = compare(x[i], y[i])
                if c != 0 { return c }
            }
            return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
        case (.object(let x), .object(let y)):
            let n = min(x.count, y.count)
            for i in 0..<n {
                let c = compare(x.entries[i].key, y.entries[i].key)
                if c != 0 { return c }
                let d = compare(x.entries[i].value, y.entries[i].value)
                if d != 0 { return d }
            }
            return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
        case (.set(let x), .set(let y)):
            let n = min(x.count, y.count)
            for i in 0..<n {
                let c = compare(x.elements[i], y.elements[i])
                if c != 0 { return c }
            }
            return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
        default:
            return a.sortRank < b.sortRank ? -1 : 1
        }
    }

    /// Byte-wise UTF-8 order, as Go compares strings. Object lookups, sorting and set
    /// membership all come here, so it compares the bytes in place.
    @inline(__always)
    static func compareStrings(_ x: String, _ y: String) -> Int {
        let inPlace = x.utf8.withContiguousStorageIfAvailable { a in
            y.utf8.withContiguousStorageIfAvailable { b in compareBytes(a, b) }
        }
        if let inPlace, let result = inPlace { return result }
        if x == y { return 0 }
        return x.utf8.lexicographicallyPrecedes(y.utf8) ? -1 : 1
    }

    @inline(__always)
    static func compareBytes(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Int {
        let n = min(a.count, b.count)
        var i = 0
        while i < n {
            let x = a[i], y = b[i]
            if x != y { return x < y ? -1 : 1 }
            i += 1
        }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }

    /// `x` before `y` in byte-wise UTF-8 order.
    @inline(__always)
    static func utf8Precedes(_ x: String, _ y: String) -> Bool { compareStrings(x, y) < 0 }

    public static func < (a: Value, b: Value) -> Bool { compare(a, b) < 0 }

    public static func == (a: Value, b: Value) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x == y
        case (.set(let x), .set(let y)): return x == y
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(sortRank)
        switch self {
        case .null: break
        case .bool(let b): hasher.combine(b)
        case .number(let n): hasher.combine(n)
        case .string(let s): hasher.combine(s)
        case .array(let a): hasher.combine(a)
        case .object(let o): hasher.combine(o)
        case .set(let s): hasher.combine(s)
        }
    }
}

// MARK: - Objects

/// An object with keys of any type, kept sorted by key in OPA's order so that iteration,
/// printing and comparison are deterministic and lookups are a binary search.
public struct RegoObject: Sendable, Hashable {
    /// One key and its value. A struct, not a tuple: the runtime destroys an array of tuples
    /// by walking each tuple's layout generically, an array of structs with their own
    /// compiled destructor (objects are built and dropped on every Check).
    public struct Entry: Sendable {
        public var key: Value
        public var value: Value

        @inline(__always)
        public init(key: Value, value: Value) {
            self.key = key
            self.value = value
        }
    }

    public private(set) var entries: [Entry]

    public init() { entries = [] }

    /// An empty object with room for `count` entries, for one built key by key.
    public init(reservingCapacity count: Int) {
        entries = []
        entries.reserveCapacity(count)
    }

    /// Builds from pairs in any order; a later duplicate key replaces an earlier one.
    public init(_ pairs: [(Value, Value)]) {
        var inOrder = true
        var i = 1
        while i < pairs.count {
            if Value.compare(pairs[i - 1].0, pairs[i].0) >= 0 { inOrder = false; break }
            i += 1
        }
        if inOrder {
            entries = pairs.map { Entry(key: $0.0, value: $0.1) }
            return
        }
        if pairs.count <= RegoObject.insertionLimit {
            entries = RegoObject.inserting(pairs.count) { o in for (k, v) in pairs { o[k] = v } }
            return
        }
        var sorted = pairs.enumerated().map { (offset: $0.offset, key: $0.element.0, value: $0.element.1) }
        sorted.sort { let c = Value.compare($0.key, $1.key); return c != 0 ? c < 0 : $0.offset < $1.offset }
        var out: [Entry] = []
        out.reserveCapacity(sorted.count)
        for e in sorted {
            if let last = out.last, last.key == e.key {
                out[out.count - 1] = Entry(key: e.key, value: e.value)
            } else {
                out.append(Entry(key: e.key, value: e.value))
            }
        }
        entries = out
    }

    public init(fields: [String: Value]) {
        self.init(stringKeys: fields.map { ($0.key, $0.value) })
    }

    /// Builds from string-keyed pairs (unique keys). The common case for documents built
    /// from requests; see `init(stringKeyedEntries:)`.
    public init(stringKeys pairs: [(String, Value)]) {
        self.init(stringKeyedEntries: pairs.map { Entry(key: .string($0.0), value: $0.1) })
    }

    /// Builds from entries whose keys are unique strings, as a decoder that writes an
    /// object's fields in key order produces them: kept as they are when they are in order
    /// (checked, with string comparisons only), inserted one by one or sorted when not.
    /// Unlike `init(stringKeys:)` there is no pairs array to convert, which matters for the
    /// objects built on every Check.
    public init(stringKeyedEntries list: [Entry]) {
        if RegoObject.stringKeysAscend(list) {
            entries = list
        } else if list.count <= RegoObject.insertionLimit {
            entries = RegoObject.inserting(list.count) { o in for e in list { o[e.key] = e.value } }
        } else {
            entries = RegoObject(list.map { ($0.key, $0.value) }).entries
        }
    }

    private static func stringKeysAscend(_ list: [Entry]) -> Bool {
        var i = 1
        while i < list.count {
            guard case .string(let a) = list[i - 1].key, case .string(let b) = list[i].key, Value.utf8Precedes(a, b) else { return false }
            i += 1
        }
        return true
    }

    /// Builds from string-keyed pairs that may repeat a key: the last value of a key wins
    /// (as protobuf map entries and JSON objects decode).
    public init(stringKeysLastWins pairs: [(String, Value)]) {
        if pairs.count <= RegoObject.insertionLimit {
            entries = RegoObject.inserting(pairs.count) { o in for (k, v) in pairs { o[k] = v } }
        } else {
            entries = RegoObject(pairs.map { (Value.string($0.0), $0.1) }).entries
        }
    }

    /// Up to this many pairs, inserting each in place (a binary search and a short move)
    /// beats sorting a copy: the objects built per request are small.
    static let insertionLimit = 32

    /// Entries inserted one by one by `insert` (a repeated key keeps its last value).
    private static func inserting(_ count: Int, _ insert: (inout RegoObject) -> Void) -> [Entry] {
        var o = RegoObject()
        o.entries.reserveCapacity(count)
        insert(&o)
        return o.entries
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }
    public var keys: [Value] { entries.map(\.key) }
    public var values: [Value] { entries.map(\.value) }

    @inline(__always)
    func index(of key: Value) -> (found: Bool, index: Int) {
        if case .string(let k) = key { return index(ofString: k) }
        var lo = 0, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            let c = Value.compare(entries[mid].key, key)
            if c == 0 { return (true, mid) }
            if c < 0 { lo = mid + 1 } else { hi = mid }
        }
        return (false, lo)
    }

    /// The common lookup, by a string key: string comparisons only, no Value pairs.
    @inline(__always)
    func index(ofString key: String) -> (found: Bool, index: Int) {
        var lo = 0, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            let c: Int
            switch entries[mid].key {
            case .string(let s): c = Value.compareStrings(s, key)
            case .null, .bool, .number: c = -1  // below every string in OPA's order
            case .array, .object, .set: c = 1   // above every string
            }
            if c == 0 { return (true, mid) }
            if c < 0 { lo = mid + 1 } else { hi = mid }
        }
        return (false, lo)
    }

    public subscript(key: Value) -> Value? {
        get {
            let (found, i) = index(of: key)
            return found ? entries[i].value : nil
        }
        set {
            let (found, i) = index(of: key)
            if let v = newValue {
                if found { entries[i].value = v } else { entries.insert(Entry(key: key, value: v), at: i) }
            } else if found {
                entries.remove(at: i)
            }
        }
    }

    public subscript(field: String) -> Value? {
        get {
            let (found, i) = index(ofString: field)
            return found ? entries[i].value : nil
        }
        set { self[.string(field)] = newValue }
    }

    public static func == (a: RegoObject, b: RegoObject) -> Bool {
        guard a.entries.count == b.entries.count else { return false }
        for i in 0..<a.entries.count where a.entries[i].key != b.entries[i].key || a.entries[i].value != b.entries[i].value {
            return false
        }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(entries.count)
        for e in entries { hasher.combine(e.key); hasher.combine(e.value) }
    }
}

// MARK: - Sets

/// A set kept sorted in OPA's order, without duplicates.
public struct RegoSet: Sendable, Hashable {
    public private(set) var elements: [Value]

    public init() { elements = [] }

    public init<S: Sequence>(_ values: S) where S.Element == Value {
        var a = Array(values)
        a.sort { Value.compare($0, $1) < 0 }
        var out: [Value] = []
        out.reserveCapacity(a.count)
        for v in a where out.last.map({ $0 != v }) ?? true { out.append(v) }
        elements = out
    }

    /// Wraps an array already sorted and free of duplicates.
    init(sortedUnique: [Value]) { elements = sortedUnique }

    public var count: Int { elements.count }
    public var isEmpty: Bool { elements.isEmpty }

    func index(of v: Value) -> (found: Bool, index: Int) {
        var lo = 0, hi = elements.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            let c = Value.compare(elements[mid], v)
            if c == 0 { return (true, mid) }
            if c < 0 { lo = mid + 1 } else { hi = mid }
        }
        return (false, lo)
    }

    public func contains(_ v: Value) -> Bool { index(of: v).found }

    @discardableResult
    public mutating func insert(_ v: Value) -> Bool {
        let (found, i) = index(of: v)
        if found { return false }
        elements.insert(v, at: i)
        return true
    }

    public func union(_ other: RegoSet) -> RegoSet {
        var out: [Value] = []
        out.reserveCapacity(elements.count + other.elements.count)
        var i = 0, j = 0
        let a = elements, b = other.elements
        while i < a.count && j < b.count {
            let c = Value.compare(a[i], b[j])
            if c < 0 { out.append(a[i]); i += 1 } else if c > 0 { out.append(b[j]); j += 1 } else { out.append(a[i]); i += 1; j += 1 }
        }
        out.append(contentsOf: a[i...])
        out.append(contentsOf: b[j...])
        return RegoSet(sortedUnique: out)
    }

    public func intersection(_ other: RegoSet) -> RegoSet {
        RegoSet(sortedUnique: elements.filter { other.contains($0) })
    }

    public func subtracting(_ other: RegoSet) -> RegoSet {
        RegoSet(sortedUnique: elements.filter { !other.contains($0) })
    }
}

/// Accumulates values into a set cheaply: append everything, sort once.
struct SetBuilder {
    private var values: [Value] = []
    mutating func insert(_ v: Value) { values.append(v) }
    func build() -> RegoSet { RegoSet(values) }
}
