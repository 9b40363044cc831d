/// A JSON number as OPA treats it: exact for integers and decimals that come in as text,
/// arithmetic in machine integers when it fits and in doubles otherwise.
///
/// Three representations keep the common case fast and the rare case exact:
/// - `int`: every integer that fits in 64 bits (the overwhelming majority).
/// - `double`: a non-integer whose shortest double text is the number itself.
/// - `exact`: any other literal (huge integers, long decimals), kept as canonical decimal
///   text so it compares and prints exactly; arithmetic on it goes through `Double`.
public enum Number: Sendable {
    case int(Int)
    case double(Double)
    case exact(ExactDecimal)

    // MARK: - Construction

    /// Parses JSON/Rego number text. Returns nil for text that is not a number.
    public init?(text: String) {
        if let i = Int(text) {
            self = .int(i)
            return
        }
        guard let exact = ExactDecimal(text: text) else { return nil }
        self.init(exact: exact)
    }

    init(exact: ExactDecimal) {
        if let i = exact.intValue {
            self = .int(i)
        } else if let d = Double(exact.canonicalText), d.isFinite,
                  ExactDecimal(text: Number.formatDouble(d)) == exact {
            self = .double(d)
        } else {
            self = .exact(exact)
        }
    }

    /// A number from a computed double: integral values become `int` when they fit exactly.
    public init(_ d: Double) {
        if d == d.rounded(), abs(d) < 9.007_199_254_740_992e15 {
            self = .int(Int(d))
        } else {
            self = .double(d)
        }
    }

    // MARK: - Views

    public var doubleValue: Double {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .exact(let e): return Double(e.canonicalText) ?? .nan
        }
    }

    /// The integer value, if this number is integral and fits in 64 bits.
    public var intValue: Int? {
        switch self {
        case .int(let i): return i
        case .double(let d):
            guard d == d.rounded(), abs(d) < 9.2e18 else { return nil }
            return Int(d)
        case .exact(let e): return e.intValue
        }
    }

    public var isInteger: Bool {
        switch self {
        case .int: return true
        case .double(let d): return d == d.rounded()
        case .exact(let e): return e.isInteger
        }
    }

    var exactDecimal: ExactDecimal {
        switch self {
        case .int(let i): return ExactDecimal(text: String(i))!
        case .double(let d): return ExactDecimal(text: Number.formatDouble(d))!
        case .exact(let e): return e
        }
    }

    /// The text OPA prints for this number.
    public var description: String {
        switch self {
        case .int(let i): return String(i)
        case .double(let d): return Number.formatDouble(d)
        case .exact(let e): return e.canonicalText
        }
    }

    /// Shortest round-trip text, in plain notation for ordinary magnitudes like Go's `%g`
    /// with exponents only for very large or very small values.
    static func formatDouble(_ d: Double) -> String {
        if d.isNaN || d.isInfinite { return d.isNaN ? "NaN" : (d < 0 ? "-Inf" : "+Inf") }
        if d == d.rounded(), abs(d) < 1e21 {
            // Integral: print without a fraction or exponent.
            return ExactDecimal(text: "\(d)")?.canonicalText ?? "\(d)"
        }
        let text = "\(d)"
        guard let exact = ExactDecimal(text: text) else { return text }
        return exact.canonicalText
    }

    // MARK: - Comparison

    public static func compare(_ a: Number, _ b: Number) -> Int {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y ? -1 : (x == y ? 0 : 1)
        case (.double(let x), .double(let y)): return x < y ? -1 : (x == y ? 0 : 1)
        case (.int(let x), .double(let y)):
            let dx = Double(x)
            if dx != y { return dx < y ? -1 : 1 }
            return ExactDecimal.compare(a.exactDecimal, b.exactDecimal)
        case (.double(let x), .int(let y)):
            let dy = Double(y)
            if x != dy { return x < dy ? -1 : 1 }
            return ExactDecimal.compare(a.exactDecimal, b.exactDecimal)
        default:
            return ExactDecimal.compare(a.exactDecimal, b.exactDecimal)
        }
    }
}

extension Number: Equatable, Hashable, Comparable {
    public static func == (a: Number, b: Number) -> Bool { compare(a, b) == 0 }
    public static func < (a: Number, b: Number) -> Bool { compare(a, b) < 0 }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .int(let i): hasher.combine(i)
        case .double(let d):
            if let i = intValue { hasher.combine(i) } else { hasher.combine(d) }
        case .exact(let e):
            if let i = e.intValue { hasher.combine(i) } else { hasher.combine(e.canonicalText) }
        }
    }
}

extension Number: CustomStringConvertible {}

// MARK: - Exact decimal text

/// A decimal number held as sign, significant digits and a power of ten; enough to compare
/// and print any JSON number exactly without an arbitrary-precision library.
public struct ExactDecimal: Sendable, Equatable {
    /// True for negative non-zero values.
    public let negative: Bool
    /// Significant digits with no leading or trailing zeros ("" for zero).
    public let digits: [UInt8]
    /// value = 0.digits × 10^exponent (so exponent is the count of integer digits).
    public let exponent: Int

    public init?(text: String) {
        var bytes = Array(text.utf8)[...]
        var negative = false
        if bytes.first == UInt8(ascii: "-") { negative = true; bytes = bytes.dropFirst() }
        else if bytes.first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        var intPart: [UInt8] = []
        var fracPart: [UInt8] = []
        var exp = 0
        var i = bytes.startIndex
        while i < bytes.endIndex, bytes[i] >= 48, bytes[i] <= 57 { intPart.append(bytes[i] - 48); i += 1 }
        if i < bytes.endIndex, bytes[i] == UInt8(ascii: ".") {
            i += 1
            while i < bytes.endIndex, bytes[i] >= 48, bytes[i] <= 57 { fracPart.append(bytes[i] - 48); i += 1 }
        }
        if intPart.isEmpty && fracPart.isEmpty { return nil }
        if i < bytes.endIndex, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            var expNeg = false
            if i < bytes.endIndex, bytes[i] == UInt8(ascii: "-") { expNeg = true; i += 1 }
            else if i < bytes.endIndex, bytes[i] == UInt8(ascii: "+") { i += 1 }
            var e = 0
            var any = false
            while i < bytes.endIndex, bytes[i] >= 48, bytes[i] <= 57 {
                any = true
                if e < 100_000_000 { e = e * 10 + Int(bytes[i] - 48) }
                i += 1
            }
            if !any { return nil }
            exp = expNeg ? -e : e
        }
        if i != bytes.endIndex { return nil }
        var all = intPart + fracPart
        var pointPos = intPart.count + exp
        var lead = 0
        while lead < all.count, all[lead] == 0 { lead += 1 }
        all.removeFirst(lead)
        pointPos -= lead
        while let last = all.last, last == 0 { all.removeLast() }
        if all.isEmpty {
            self.negative = false
            self.digits = []
            self.exponent = 0
        } else {
            self.negative = negative
            self.digits = all
            self.exponent = pointPos
        }
    }

    public var isZero: Bool { digits.isEmpty }
    public var isInteger: Bool { digits.count <= exponent || isZero }

    public var intValue: Int? {
        guard isInteger else { return nil }
        if isZero { return 0 }
        if exponent > 19 { return nil }
        var v: Int = 0
        for k in 0..<exponent {
            let d = k < digits.count ? Int(digits[k]) : 0
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            if o1 { return nil }
            let (s, o2) = negative ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
            if o2 { return nil }
            v = s
        }
        return v
    }

    /// Plain decimal notation for reasonable exponents, scientific for extreme ones.
    public var canonicalText: String {
        if isZero { return "0" }
        var s = negative ? "-" : ""
        let ds = digits.map { Character(Unicode.Scalar($0 + 48)) }
        if (exponent > 21 && !(isInteger && exponent <= 400)) || exponent < -6 {
            s.append(ds[0])
            if ds.count > 1 { s.append("."); s.append(contentsOf: ds[1...]) }
            s.append("e")
            let e = exponent - 1
            s.append(e >= 0 ? "+" : "-")
            s.append(String(abs(e)))
            return s
        }
        if exponent <= 0 {
            s.append("0.")
            s.append(String(repeating: "0", count: -exponent))
            s.append(contentsOf: ds)
        } else if exponent >= ds.count {
            s.append(contentsOf: ds)
            s.append(String(repeating: "0", count: exponent - ds.count))
        } else {
            s.append(contentsOf: ds[..<exponent])
            s.append(".")
            s.append(contentsOf: ds[exponent...])
        }
        return s
    }

    public static func compare(_ a: ExactDecimal, _ b: ExactDecimal) -> Int {
        if a.isZero && b.isZero { return 0 }
        let sa = a.isZero ? 0 : (a.negative ? -1 : 1)
        let sb = b.isZero ? 0 : (b.negative ? -1 : 1)
        if sa != sb { return sa < sb ? -1 : 1 }
        // Same sign, both non-zero.
        var mag: Int
        if a.exponent != b.exponent {
            mag = a.exponent < b.exponent ? -1 : 1
        } else {
            mag = 0
            let n = max(a.digits.count, b.digits.count)
            for k in 0..<n {
                let x = k < a.digits.count ? a.digits[k] : 0
                let y = k < b.digits.count ? b.digits[k] : 0
                if x != y { mag = x < y ? -1 : 1; break }
            }
        }
        return sa < 0 ? -mag : mag
    }
}
