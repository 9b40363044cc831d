/// Arithmetic with OPA's results: integers stay exact at any size, decimals add and
/// multiply exactly (`0.1 + 0.2` is `0.3`), division and the rest go through `Double`.
extension Number {
    public static func + (a: Number, b: Number) -> Number {
        if case .int(let x) = a, case .int(let y) = b {
            let (r, o) = x.addingReportingOverflow(y)
            if !o { return .int(r) }
        }
        return Number(exact: ExactDecimal.add(a.exactDecimal, b.exactDecimal))
    }

    public static func - (a: Number, b: Number) -> Number {
        if case .int(let x) = a, case .int(let y) = b {
            let (r, o) = x.subtractingReportingOverflow(y)
            if !o { return .int(r) }
        }
        return Number(exact: ExactDecimal.add(a.exactDecimal, b.exactDecimal.negated))
    }

    public static func * (a: Number, b: Number) -> Number {
        if case .int(let x) = a, case .int(let y) = b {
            let (r, o) = x.multipliedReportingOverflow(by: y)
            if !o { return .int(r) }
        }
        return Number(exact: ExactDecimal.multiply(a.exactDecimal, b.exactDecimal))
    }

    public var negated: Number {
        switch self {
        case .int(let i) where i != Int.min: return .int(-i)
        default: return Number(exact: exactDecimal.negated)
        }
    }

    public var isNegative: Bool {
        switch self {
        case .int(let i): return i < 0
        case .double(let d): return d < 0
        case .exact(let e): return e.negative && !e.isZero
        }
    }
}

extension Number {
    /// The integer part, truncated toward zero, when it fits in 64 bits.
    var truncatedInt: Int? {
        switch self {
        case .int(let i): return i
        case .double(let d): let t = d.rounded(.towardZero); return abs(t) < 9.2e18 ? Int(t) : nil
        case .exact(let e): return ExactDecimal(negative: e.negative, digits: Array(e.digits.prefix(max(0, e.exponent))), exponent: e.exponent).intValue
        }
    }
}

extension ExactDecimal {
    /// The integer part (truncated toward zero) written in `radix`, at any size.
    func integerString(radix: Int) -> String {
        guard exponent > 0, !isZero else { return "0" }
        var decimal: [Int] = (0..<exponent).map { $0 < digits.count ? Int(digits[$0]) : 0 }
        var out: [Int] = []
        while !decimal.isEmpty {
            // Divide the decimal digit string by `radix`, keeping the remainder.
            var remainder = 0
            var quotient: [Int] = []
            for d in decimal {
                let cur = remainder * 10 + d
                let q = cur / radix
                remainder = cur % radix
                if !quotient.isEmpty || q != 0 { quotient.append(q) }
            }
            out.append(remainder)
            decimal = quotient
        }
        let symbols = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        return (negative ? "-" : "") + String(out.reversed().map { symbols[$0] })
    }

    init(negative: Bool, digits: [UInt8], exponent: Int) {
        var d = digits
        var e = exponent
        var lead = 0
        while lead < d.count, d[lead] == 0 { lead += 1 }
        d.removeFirst(lead)
        e -= lead
        while let last = d.last, last == 0 { d.removeLast() }
        if d.isEmpty {
            self = ExactDecimal(text: "0")!
        } else {
            self.negative = negative
            self.digits = d
            self.exponent = e
        }
    }

    var negated: ExactDecimal {
        if isZero { return self }
        return ExactDecimal(negative: !negative, digits: digits, exponent: exponent)
    }

    /// Digits aligned so that both numbers share the same power of ten for their last digit.
    private static func aligned(_ a: ExactDecimal, _ b: ExactDecimal) -> (a: [UInt8], b: [UInt8], exponent: Int) {
        // value = 0.d1d2...dn × 10^exponent  ⇒ last digit has weight 10^(exponent - n)
        let lowA = a.exponent - a.digits.count, lowB = b.exponent - b.digits.count
        let low = min(lowA, lowB)
        let high = max(a.exponent, b.exponent)
        func pad(_ x: ExactDecimal) -> [UInt8] {
            let front = high - x.exponent
            let back = (x.exponent - x.digits.count) - low
            return Array(repeating: 0, count: front) + x.digits + Array(repeating: 0, count: back)
        }
        return (pad(a), pad(b), high)
    }

    static func add(_ a: ExactDecimal, _ b: ExactDecimal) -> ExactDecimal {
        if a.isZero { return b }
        if b.isZero { return a }
        let (x, y, high) = aligned(a, b)
        if a.negative == b.negative {
            var out = [UInt8](repeating: 0, count: x.count + 1)
            var carry: UInt8 = 0
            for i in stride(from: x.count - 1, through: 0, by: -1) {
                let s = x[i] + y[i] + carry
                out[i + 1] = s % 10
                carry = s / 10
            }
            out[0] = carry
            return ExactDecimal(negative: a.negative, digits: out, exponent: high + 1)
        }
        // Different signs: subtract the smaller magnitude from the larger.
        let cmp = compareDigits(x, y)
        if cmp == 0 { return ExactDecimal(text: "0")! }
        let (big, small, neg) = cmp > 0 ? (x, y, a.negative) : (y, x, b.negative)
        var out = [UInt8](repeating: 0, count: big.count)
        var borrow: Int = 0
        for i in stride(from: big.count - 1, through: 0, by: -1) {
            var d = Int(big[i]) - Int(small[i]) - borrow
            if d < 0 { d += 10; borrow = 1 } else { borrow = 0 }
            out[i] = UInt8(d)
        }
        return ExactDecimal(negative: neg, digits: out, exponent: high)
    }

    private static func compareDigits(_ x: [UInt8], _ y: [UInt8]) -> Int {
        for i in 0..<x.count where x[i] != y[i] { return x[i] < y[i] ? -1 : 1 }
        return 0
    }

    static func multiply(_ a: ExactDecimal, _ b: ExactDecimal) -> ExactDecimal {
        if a.isZero || b.isZero { return ExactDecimal(text: "0")! }
        var acc = [Int](repeating: 0, count: a.digits.count + b.digits.count)
        for i in stride(from: a.digits.count - 1, through: 0, by: -1) {
            for j in stride(from: b.digits.count - 1, through: 0, by: -1) {
                acc[i + j + 1] += Int(a.digits[i]) * Int(b.digits[j])
            }
        }
        for i in stride(from: acc.count - 1, to: 0, by: -1) {
            acc[i - 1] += acc[i] / 10
            acc[i] %= 10
        }
        return ExactDecimal(negative: a.negative != b.negative, digits: acc.map { UInt8($0) }, exponent: a.exponent + b.exponent)
    }
}
