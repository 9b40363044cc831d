/// Time: nanoseconds since the epoch, civil dates in UTC or a fixed offset, Go layouts.
/// `time.now_ns()` is fixed for one evaluation (the evaluator's context holds it).
extension BuiltinFamilies {
    static var time: [Builtin] {
        [
            Builtin("time.now_ns", arity: 0) { _, ctx in .int(ctx.nowNs) },
            Builtin("time.parse_rfc3339_ns", arity: 1) { a, _ in
                let s = try a.string(0)
                guard let ns = try GoTime.parse(layout: GoTime.rfc3339, s) else {
                    throw BuiltinError.failure("parsing time \(Value.string(s).regoQuoted) as \(Value.string(GoTime.rfc3339).regoQuoted): cannot parse")
                }
                return .int(ns)
            },
            Builtin("time.parse_ns", arity: 2) { a, _ in
                let layout = try a.string(0), s = try a.string(1)
                guard let ns = try GoTime.parse(layout: layout, s) else {
                    throw BuiltinError.failure("parsing time \(Value.string(s).regoQuoted) as \(Value.string(layout).regoQuoted): cannot parse")
                }
                return .int(ns)
            },
            Builtin("time.parse_duration_ns", arity: 1) { a, _ in
                let s = try a.string(0)
                guard let ns = GoTime.parseDuration(s) else { throw BuiltinError.failure("time: invalid duration \(Value.string(s).regoQuoted)") }
                return .number(ns)
            },
            Builtin("time.date", arity: 1) { a, _ in
                let (ns, offset, _) = try GoTime.timeOperand(a[0], 1)
                let c = GoTime.civil(ns: ns, offset: offset)
                return .array([.int(c.year), .int(c.month), .int(c.day)])
            },
            Builtin("time.clock", arity: 1) { a, _ in
                let (ns, offset, _) = try GoTime.timeOperand(a[0], 1)
                let c = GoTime.civil(ns: ns, offset: offset)
                return .array([.int(c.hour), .int(c.minute), .int(c.second)])
            },
            Builtin("time.weekday", arity: 1) { a, _ in
                let (ns, offset, _) = try GoTime.timeOperand(a[0], 1)
                return .string(GoTime.weekdays[GoTime.civil(ns: ns, offset: offset).weekday])
            },
            Builtin("time.add_date", arity: 4) { a, _ in
                let ns = try a.int(0), y = try a.int(1), m = try a.int(2), d = try a.int(3)
                var c = GoTime.civil(ns: ns, offset: 0)
                c.year += y
                c.month += m
                c.day += d
                let out = GoTime.nanos(c, offset: 0)
                guard let out else { throw BuiltinError.failure("time outside of valid range") }
                return .int(out)
            },
            Builtin("time.diff", arity: 2) { a, _ in
                let (n1, o1, _) = try GoTime.timeOperand(a[0], 1)
                let (n2, o2, _) = try GoTime.timeOperand(a[1], 2)
                return .array(GoTime.diff(n1, o1, n2, o2).map { .int($0) })
            },
            Builtin("time.format", arity: 1) { a, _ in
                let (ns, offset, layout) = try GoTime.timeOperand(a[0], 1)
                return .string(GoTime.format(ns: ns, offset: offset, layout: layout ?? GoTime.rfc3339Nano))
            },
        ]
    }
}

enum GoTime {
    static let rfc3339 = "2006-01-02T15:04:05Z07:00"
    static let rfc3339Nano = "2006-01-02T15:04:05.999999999Z07:00"
    static let weekdays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    static let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]

    struct Civil {
        var year: Int, month: Int, day: Int
        var hour = 0, minute = 0, second = 0, nano = 0
        var weekday = 0
        var yearDay = 0
    }

    /// `ns` or `[ns, tz]` or `[ns, tz, layout]`; tz is "UTC", "", "Local" or a fixed offset.
    static func timeOperand(_ v: Value, _ i: Int) throws(BuiltinError) -> (Int, Int, String?) {
        switch v {
        case .number(let n):
            guard let ns = n.intValue else { throw BuiltinError.failure("timestamp too big") }
            return (ns, 0, nil)
        case .array(let a):
            guard a.count >= 2, a.count <= 3, case .number(let n) = a[0], case .string(let tz) = a[1] else {
                throw BuiltinError.operand(i, "one of {number, array}", v)
            }
            guard let ns = n.intValue else { throw BuiltinError.failure("timestamp too big") }
            guard let offset = zoneOffset(tz) else { throw BuiltinError.failure("unknown time zone \(tz)") }
            var layout: String?
            if a.count == 3 {
                guard case .string(let l) = a[2] else { throw BuiltinError.operand(i, "one of {number, array}", v) }
                layout = namedLayouts[l] ?? l
            }
            return (ns, offset, layout)
        default:
            throw BuiltinError.operand(i, "one of {number, array}", v)
        }
    }

    static let namedLayouts: [String: String] = [
        "ANSIC": "Mon Jan _2 15:04:05 2006", "UnixDate": "Mon Jan _2 15:04:05 MST 2006",
        "RubyDate": "Mon Jan 02 15:04:05 -0700 2006", "RFC822": "02 Jan 06 15:04 MST",
        "RFC822Z": "02 Jan 06 15:04 -0700", "RFC850": "Monday, 02-Jan-06 15:04:05 MST",
        "RFC1123": "Mon, 02 Jan 2006 15:04:05 MST", "RFC1123Z": "Mon, 02 Jan 2006 15:04:05 -0700",
        "RFC3339": rfc3339, "RFC3339Nano": rfc3339Nano, "Kitchen": "3:04PM",
        "Stamp": "Jan _2 15:04:05", "StampMilli": "Jan _2 15:04:05.000",
        "StampMicro": "Jan _2 15:04:05.000000", "StampNano": "Jan _2 15:04:05.000000000",
        "DateTime": "2006-01-02 15:04:05", "DateOnly": "2006-01-02", "TimeOnly": "15:04:05",
    ]

    static func zoneOffset(_ tz: String) -> Int? {
        switch tz {
        case "", "UTC", "Local", "GMT", "Etc/UTC", "Z": return 0
        default: return nil
        }
    }

    // MARK: - Civil dates (Howard Hinnant's algorithms)

    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    static func civil(ns: Int, offset: Int) -> Civil {
        let local = ns + offset * 1_000_000_000
        var secs = local / 1_000_000_000
        var nano = local % 1_000_000_000
        if nano < 0 { nano += 1_000_000_000; secs -= 1 }
        var days = secs / 86400
        var rem = secs % 86400
        if rem < 0 { rem += 86400; days -= 1 }
        let (y, m, d) = civilFromDays(days)
        var c = Civil(year: y, month: m, day: d)
        c.hour = rem / 3600
        c.minute = rem % 3600 / 60
        c.second = rem % 60
        c.nano = nano
        c.weekday = ((days % 7) + 11) % 7  // 1970-01-01 was a Thursday
        c.yearDay = days - daysFromCivil(y, 1, 1) + 1
        return c
    }

    /// Normalises month/day overflow as Go's time.Date does. Nil outside int64 nanoseconds.
    static func nanos(_ c0: Civil, offset: Int) -> Int? {
        var c = c0
        var m = c.month - 1
        c.year += m >= 0 ? m / 12 : (m - 11) / 12
        m = ((m % 12) + 12) % 12
        let days = daysFromCivil(c.year, m + 1, 1) + c.day - 1
        let secs = days * 86400 + c.hour * 3600 + c.minute * 60 + c.second - offset
        let (a, o1) = secs.multipliedReportingOverflow(by: 1_000_000_000)
        if o1 { return nil }
        let (r, o2) = a.addingReportingOverflow(c.nano)
        return o2 ? nil : r
    }

    static func diff(_ n1: Int, _ o1: Int, _ n2: Int, _ o2: Int) -> [Int] {
        var (a, b) = (civil(ns: n1, offset: o1), civil(ns: n2, offset: o2))
        if n1 > n2 { swap(&a, &b) }
        var year = b.year - a.year, month = b.month - a.month, day = b.day - a.day
        var hour = b.hour - a.hour, minute = b.minute - a.minute, second = b.second - a.second
        if second < 0 { second += 60; minute -= 1 }
        if minute < 0 { minute += 60; hour -= 1 }
        if hour < 0 { hour += 24; day -= 1 }
        if day < 0 {
            // Days in the month before b's month.
            let (py, pm) = b.month == 1 ? (b.year - 1, 12) : (b.year, b.month - 1)
            day += daysFromCivil(pm == 12 ? py + 1 : py, pm == 12 ? 1 : pm + 1, 1) - daysFromCivil(py, pm, 1)
            month -= 1
        }
        if month < 0 { month += 12; year -= 1 }
        return [year, month, day, hour, minute, second]
    }

    // MARK: - Durations

    static func parseDuration(_ s0: String) -> Number? {
        var s = Array(s0.unicodeScalars)[...]
        var neg = false
        if s.first == "-" || s.first == "+" { neg = s.first == "-"; s = s.dropFirst() }
        if s.count == 1 && s.first == "0" { return .int(0) }
        if s.isEmpty { return nil }
        var total: Double = 0
        var totalInt = 0
        var exact = true
        let units: [String: Int] = ["ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000]
        while !s.isEmpty {
            var intPart = ""
            while let c = s.first, c.properties.numericType != nil, c.isASCII { intPart.unicodeScalars.append(c); s = s.dropFirst() }
            var frac = ""
            if s.first == "." {
                s = s.dropFirst()
                while let c = s.first, c.properties.numericType != nil, c.isASCII { frac.unicodeScalars.append(c); s = s.dropFirst() }
            }
            if intPart.isEmpty && frac.isEmpty { return nil }
            var unit = ""
            while let c = s.first, !(c.properties.numericType != nil && c.isASCII), c != "." { unit.unicodeScalars.append(c); s = s.dropFirst() }
            guard let mult = units[unit] else { return nil }
            let iv = Int(intPart) ?? 0
            if frac.isEmpty {
                let (p, o) = iv.multipliedReportingOverflow(by: mult)
                if o { return nil }
                totalInt += p
            } else {
                exact = false
                let d = Double(intPart.isEmpty ? "0" : intPart)! + Double("0." + frac)!
                total += d * Double(mult)
            }
        }
        if exact { return .int(neg ? -totalInt : totalInt) }
        let v = (Double(totalInt) + total).rounded(.towardZero)
        guard abs(v) < 9.2e18 else { return nil }
        return .int(Int(neg ? -v : v))
    }

    // MARK: - Layouts

    enum Chunk: Equatable {
        case literal(String)
        case year4, year2, month, monthPad, monthShort, monthLong, day, dayPad, daySpace
        case weekdayShort, weekdayLong, hour24, hour12, hour12Pad, minute, minutePad, second, secondPad
        case pm, pmLower, zoneName, tzZ0700, tzZ07_00, tz0700, tz07_00, tz07, tzZ07
        case fracZeros(Int), fracNines(Int), yearDay
    }

    static func chunks(_ layout: String) -> [Chunk] {
        let s = Array(layout.unicodeScalars)
        var out: [Chunk] = []
        var lit = ""
        var i = 0
        func has(_ p: String) -> Bool {
            let ps = Array(p.unicodeScalars)
            return i + ps.count <= s.count && Array(s[i..<i + ps.count]) == ps
        }
        func emit(_ c: Chunk, _ len: Int) {
            if !lit.isEmpty { out.append(.literal(lit)); lit = "" }
            out.append(c)
            i += len
        }
        let table: [(String, Chunk)] = [
            ("January", .monthLong), ("Jan", .monthShort), ("Monday", .weekdayLong), ("Mon", .weekdayShort),
            ("MST", .zoneName), ("2006", .year4), ("Z07:00", .tzZ07_00), ("Z0700", .tzZ0700), ("Z07", .tzZ07),
            ("-07:00", .tz07_00), ("-0700", .tz0700), ("-07", .tz07), ("002", .yearDay),
            ("01", .monthPad), ("02", .dayPad), ("_2", .daySpace), ("06", .year2), ("15", .hour24),
            ("03", .hour12Pad), ("04", .minutePad), ("05", .secondPad), ("PM", .pm), ("pm", .pmLower),
            ("1", .month), ("2", .day), ("3", .hour12), ("4", .minute), ("5", .second),
        ]
        outer: while i < s.count {
            if (s[i] == "." || s[i] == ","), i + 1 < s.count, s[i + 1] == "0" || s[i + 1] == "9" {
                let d = s[i + 1]
                var j = i + 1
                while j < s.count, s[j] == d { j += 1 }
                if j >= s.count || !(s[j].properties.numericType != nil && s[j].isASCII) {
                    let n = j - i - 1
                    if !lit.isEmpty { out.append(.literal(lit)); lit = "" }
                    out.append(d == "0" ? .fracZeros(n) : .fracNines(n))
                    i = j
                    continue
                }
            }
            for (p, c) in table where has(p) {
                emit(c, p.unicodeScalars.count)
                continue outer
            }
            lit.unicodeScalars.append(s[i])
            i += 1
        }
        if !lit.isEmpty { out.append(.literal(lit)) }
        return out
    }

    static func pad(_ n: Int, _ width: Int, _ ch: Character = "0") -> String {
        let s = String(abs(n))
        return (n < 0 ? "-" : "") + String(repeating: ch, count: max(0, width - s.count)) + s
    }

    static func format(ns: Int, offset: Int, layout: String) -> String {
        let c = civil(ns: ns, offset: offset)
        var out = ""
        for ch in chunks(layout) {
            switch ch {
            case .literal(let s): out += s
            case .year4: out += pad(c.year, 4)
            case .year2: out += pad(c.year % 100, 2)
            case .month: out += String(c.month)
            case .monthPad: out += pad(c.month, 2)
            case .monthShort: out += String(months[c.month - 1].prefix(3))
            case .monthLong: out += months[c.month - 1]
            case .day: out += String(c.day)
            case .dayPad: out += pad(c.day, 2)
            case .daySpace: out += pad(c.day, 2, " ")
            case .yearDay: out += pad(c.yearDay, 3)
            case .weekdayShort: out += String(weekdays[c.weekday].prefix(3))
            case .weekdayLong: out += weekdays[c.weekday]
            case .hour24: out += pad(c.hour, 2)
            case .hour12: out += String(c.hour % 12 == 0 ? 12 : c.hour % 12)
            case .hour12Pad: out += pad(c.hour % 12 == 0 ? 12 : c.hour % 12, 2)
            case .minute: out += String(c.minute)
            case .minutePad: out += pad(c.minute, 2)
            case .second: out += String(c.second)
            case .secondPad: out += pad(c.second, 2)
            case .pm: out += c.hour >= 12 ? "PM" : "AM"
            case .pmLower: out += c.hour >= 12 ? "pm" : "am"
            case .zoneName: out += offset == 0 ? "UTC" : formatOffset(offset, colon: false, seconds: false)
            case .tzZ07_00, .tzZ0700, .tzZ07:
                if offset == 0 { out += "Z" } else { out += formatOffset(offset, colon: ch == .tzZ07_00, seconds: false, hoursOnly: ch == .tzZ07) }
            case .tz07_00: out += formatOffset(offset, colon: true, seconds: false)
            case .tz0700: out += formatOffset(offset, colon: false, seconds: false)
            case .tz07: out += formatOffset(offset, colon: false, seconds: false, hoursOnly: true)
            case .fracZeros(let n):
                out += "." + String(pad(c.nano, 9).prefix(n))
            case .fracNines(let n):
                var digits = String(pad(c.nano, 9).prefix(n))
                while digits.hasSuffix("0") { digits.removeLast() }
                if !digits.isEmpty { out += "." + digits }
            }
        }
        return out
    }

    static func formatOffset(_ offset: Int, colon: Bool, seconds: Bool, hoursOnly: Bool = false) -> String {
        let sign = offset < 0 ? "-" : "+"
        let o = abs(offset)
        let h = pad(o / 3600, 2), m = pad(o % 3600 / 60, 2)
        if hoursOnly { return sign + h }
        return sign + h + (colon ? ":" : "") + m
    }

    /// Parses `value` with a Go layout; nil when it does not match.
    static func parse(layout: String, _ value: String) throws(BuiltinError) -> Int? {
        let v = Array(value.unicodeScalars)
        var i = 0
        var c = Civil(year: 1, month: 1, day: 1)
        var offset = 0
        var pm: Bool?
        var hour12 = false
        func digits(_ minN: Int, _ maxN: Int) -> Int? {
            var n = 0
            var count = 0
            while count < maxN, i < v.count, v[i].isASCII, let d = Int(String(v[i])) { n = n * 10 + d; i += 1; count += 1 }
            return count >= minN ? n : nil
        }
        func word(_ options: [String]) -> Int? {
            for (idx, w) in options.enumerated() {
                let ws = Array(w.unicodeScalars)
                if i + ws.count <= v.count && String(String.UnicodeScalarView(v[i..<i + ws.count])).lowercased() == w.lowercased() {
                    i += ws.count
                    return idx
                }
            }
            return nil
        }
        func parseOffset(colon: Bool?, allowZ: Bool, hoursOnly: Bool = false) -> Bool {
            if allowZ && i < v.count && v[i] == "Z" { i += 1; offset = 0; return true }
            guard i < v.count, v[i] == "+" || v[i] == "-" else { return false }
            let sign = v[i] == "-" ? -1 : 1
            i += 1
            guard let h = digits(2, 2) else { return false }
            var m = 0
            if !hoursOnly {
                if i < v.count, v[i] == ":" { i += 1 } else if colon == true { return false }
                guard let mm = digits(2, 2) else { return false }
                m = mm
            }
            offset = sign * (h * 3600 + m * 60)
            return true
        }
        for ch in chunks(layout) {
            switch ch {
            case .literal(let s):
                for u in s.unicodeScalars {
                    guard i < v.count, v[i] == u else { return nil }
                    i += 1
                }
            case .year4:
                guard let y = digits(4, 4) else { return nil }
                c.year = y
            case .year2:
                guard let y = digits(2, 2) else { return nil }
                c.year = y >= 69 ? 1900 + y : 2000 + y
            case .month: guard let m = digits(1, 2), (1...12).contains(m) else { return nil }; c.month = m
            case .monthPad: guard let m = digits(2, 2), (1...12).contains(m) else { return nil }; c.month = m
            case .monthShort: guard let m = word(months.map { String($0.prefix(3)) }) else { return nil }; c.month = m + 1
            case .monthLong: guard let m = word(months) else { return nil }; c.month = m + 1
            case .day, .dayPad, .daySpace:
                if ch == .daySpace, i < v.count, v[i] == " " { i += 1 }
                guard let d = digits(ch == .dayPad ? 2 : 1, 2), (1...31).contains(d) else { return nil }
                c.day = d
            case .yearDay: guard digits(3, 3) != nil else { return nil }
            case .weekdayShort: guard word(weekdays.map { String($0.prefix(3)) }) != nil else { return nil }
            case .weekdayLong: guard word(weekdays) != nil else { return nil }
            case .hour24: guard let h = digits(2, 2), h < 24 else { return nil }; c.hour = h
            case .hour12, .hour12Pad:
                guard let h = digits(ch == .hour12Pad ? 2 : 1, 2), (1...12).contains(h) else { return nil }
                c.hour = h
                hour12 = true
            case .minute, .minutePad: guard let m = digits(ch == .minutePad ? 2 : 1, 2), m < 60 else { return nil }; c.minute = m
            case .second, .secondPad:
                guard let s = digits(ch == .secondPad ? 2 : 1, 2), s < 60 else { return nil }
                c.second = s
                // Go accepts fractional seconds after seconds even if the layout has none.
                if i + 1 < v.count, v[i] == ".", v[i + 1].isASCII, Int(String(v[i + 1])) != nil {
                    i += 1
                    let start = i
                    guard let n = digits(1, 9) else { return nil }
                    c.nano = n * Int(pow10(9 - (i - start)))
                    while i < v.count, v[i].isASCII, Int(String(v[i])) != nil { i += 1 }
                }
            case .pm, .pmLower:
                guard let p = word(["AM", "PM"]) else { return nil }
                pm = p == 1
            case .zoneName:
                guard let z = word(["UTC", "GMT", "Z"]) else {
                    // Other abbreviations: three or more letters, treated as UTC like Go does for unknown ones.
                    var n = 0
                    while i < v.count, v[i].properties.isUppercase { i += 1; n += 1 }
                    if n < 3 { return nil }
                    continue
                }
                _ = z
            case .tzZ07_00: guard parseOffset(colon: true, allowZ: true) else { return nil }
            case .tzZ0700: guard parseOffset(colon: false, allowZ: true) else { return nil }
            case .tzZ07: guard parseOffset(colon: nil, allowZ: true, hoursOnly: true) else { return nil }
            case .tz07_00: guard parseOffset(colon: true, allowZ: false) else { return nil }
            case .tz0700: guard parseOffset(colon: false, allowZ: false) else { return nil }
            case .tz07: guard parseOffset(colon: nil, allowZ: false, hoursOnly: true) else { return nil }
            case .fracZeros(let n):
                guard i < v.count, v[i] == "." || v[i] == "," else { return nil }
                i += 1
                let start = i
                guard let f = digits(n, n) else { return nil }
                c.nano = f * Int(pow10(9 - (i - start)))
            case .fracNines:
                if i < v.count, v[i] == "." || v[i] == "," {
                    i += 1
                    let start = i
                    guard let f = digits(1, 9) else { return nil }
                    c.nano = f * Int(pow10(9 - (i - start)))
                }
            }
        }
        if i != v.count { return nil }
        if let pm, hour12 {
            if pm && c.hour < 12 { c.hour += 12 }
            if !pm && c.hour == 12 { c.hour = 0 }
        }
        // Day must exist in the month.
        let dim = daysFromCivil(c.month == 12 ? c.year + 1 : c.year, c.month == 12 ? 1 : c.month + 1, 1) - daysFromCivil(c.year, c.month, 1)
        if c.day > dim { return nil }
        guard let ns = nanos(c, offset: offset), c.year >= 1678, c.year <= 2262 else {
            throw BuiltinError.failure("time outside of valid range")
        }
        return ns
    }

    static func pow10(_ n: Int) -> Int {
        var r = 1
        for _ in 0..<max(0, n) { r *= 10 }
        return r
    }
}

/// RFC 3339 timestamps in UTC, as protojson writes them: 0, 3, 6 or 9 fractional digits.
/// Shared by the Envoy input document and Warden's log lines.
public enum RFC3339 {
    public static func format(seconds: Int, nanos: Int) -> String {
        let days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400)
        let secs = seconds - days * 86400
        let (y, m, d) = GoTime.civilFromDays(days)
        // Digits written as bytes: every decision record and request time comes through here.
        var out: [UInt8] = []
        out.reserveCapacity(32)
        func digits(_ n: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = n
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
        if (1000...9999).contains(y) { digits(y, 4) } else { out.append(contentsOf: String(y).utf8) }
        out.append(UInt8(ascii: "-"))
        digits(m, 2)
        out.append(UInt8(ascii: "-"))
        digits(d, 2)
        out.append(UInt8(ascii: "T"))
        digits(secs / 3600, 2)
        out.append(UInt8(ascii: ":"))
        digits(secs % 3600 / 60, 2)
        out.append(UInt8(ascii: ":"))
        digits(secs % 60, 2)
        if nanos != 0 {
            // Milli-, micro- or nanoseconds: the shortest of the three that is exact.
            out.append(UInt8(ascii: "."))
            if nanos % 1_000_000 == 0 { digits(nanos / 1_000_000, 3) } else if nanos % 1000 == 0 { digits(nanos / 1000, 6) } else { digits(nanos, 9) }
        }
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Unix seconds of an RFC 3339 time (any offset, fraction dropped), or nil.
    public static func parse(_ text: String) -> Int64? {
        guard let ns = try? GoTime.parse(layout: GoTime.rfc3339, text) else { return nil }
        return Int64(ns.floorDiv(1_000_000_000))
    }

    /// Unix seconds of the start (00:00 UTC) of a `YYYY-MM-DD` date, or nil.
    public static func parseDate(_ text: String) -> Int64? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
              (1...12).contains(m), (1...31).contains(d) else { return nil }
        let days = GoTime.daysFromCivil(y, m, d)
        guard GoTime.civilFromDays(days) == (y, m, d) else { return nil }  // 2027-02-30
        return Int64(days) * 86_400
    }
}

extension Int {
    fileprivate func floorDiv(_ d: Int) -> Int { self >= 0 ? self / d : -((-self + d - 1) / d) }
}
