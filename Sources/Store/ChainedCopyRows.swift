#if canImport(Glibc)
import Glibc
#endif

/// One shipment of spooled decisions as the rows of `COPY warden_decisions … FROM STDIN`
/// (text format), chained as they are added: each row's hash covers the one before it.
/// Works on the spool's bytes as read, so a record is never copied into a `String`.
struct ChainedCopyRows {
    private(set) var text: [UInt8] = []
    private(set) var seq: Int64
    private(set) var hash: [UInt8]
    private(set) var count = 0

    init(after seq: Int64, hash: [UInt8], capacity: Int) {
        self.seq = seq
        self.hash = hash
        text.reserveCapacity(capacity)
    }

    /// The columns each row carries, in order.
    static let statement: StaticString = "COPY warden_decisions (seq, decision_id, time, agent_id, record, prev_hash, row_hash) FROM STDIN"

    /// Adds one spool line; false, adding nothing, when it is not a decision record.
    mutating func add(spoolLine line: ArraySlice<UInt8>) -> Bool {
        guard let fields = SpoolLineFields(line) else { return false }
        let previous = hash
        seq += 1
        hash = AuditChain.hash(previous: previous, record: line[fields.record])
        count += 1
        appendDecimal(seq)
        text.append(Self.tab)
        text += line[fields.decisionID]
        text.append(Self.tab)
        appendTimestamp(micros: fields.timeMicros)
        text.append(Self.tab)
        if fields.agentID.isEmpty {
            text += Self.null
        } else {
            appendEscaped(line[fields.agentID])
        }
        text.append(Self.tab)
        appendEscaped(line[fields.record])
        text.append(Self.tab)
        appendBytea(previous)
        text.append(Self.tab)
        appendBytea(hash)
        text.append(Self.newline)
        return true
    }

    static let tab = UInt8(ascii: "\t"), newline = UInt8(ascii: "\n"), backslash = UInt8(ascii: "\\")
    static let null: [UInt8] = Array(#"\N"#.utf8)
    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// In COPY's text format a backslash starts an escape: double each one. (Tab, newline and
    /// carriage return would need escapes too; `SpoolLineFields` refuses them.)
    private mutating func appendEscaped(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBytes { b in
            guard let base = b.baseAddress else { return }
            var start = 0
            while start < b.count, let found = memchr(base + start, Int32(Self.backslash), b.count - start) {
                let i = base.distance(to: UnsafeRawPointer(found))
                text.append(contentsOf: UnsafeRawBufferPointer(rebasing: b[start...i]))
                text.append(Self.backslash)
                start = i + 1
            }
            text.append(contentsOf: UnsafeRawBufferPointer(rebasing: b[start...]))
        }
    }

    /// `\x…` is bytea's hex input; its backslash is escaped for COPY.
    private mutating func appendBytea(_ bytes: [UInt8]) {
        text.append(Self.backslash)
        text.append(Self.backslash)
        text.append(UInt8(ascii: "x"))
        for b in bytes {
            text.append(Self.hexDigits[Int(b >> 4)])
            text.append(Self.hexDigits[Int(b & 15)])
        }
    }

    private mutating func appendDecimal(_ value: Int64, width: Int = 1) {
        if value < 0 { text.append(UInt8(ascii: "-")) }
        var rest = value.magnitude, divisor: UInt64 = 1, digits = 1
        while divisor <= rest / 10 {
            divisor *= 10
            digits += 1
        }
        for _ in digits..<max(width, digits) { text.append(UInt8(ascii: "0")) }
        while divisor > 0 {
            text.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff+00`: exact to the microsecond, which a conversion from
    /// seconds as a double is not.
    private mutating func appendTimestamp(micros: Int64) {
        let c = CivilTime(unixMicros: micros)
        let fields: [(value: Int64, width: Int, then: Unicode.Scalar)] = [
            (c.year, 4, "-"), (c.month, 2, "-"), (c.day, 2, " "), (c.hour, 2, ":"), (c.minute, 2, ":"), (c.second, 2, "."),
            (c.microsecond, 6, "+"),
        ]
        for field in fields {
            appendDecimal(field.value, width: field.width)
            text.append(UInt8(ascii: field.then))
        }
        text += [UInt8(ascii: "0"), UInt8(ascii: "0")]
    }
}

/// A spool line's parts: `decision_id TAB time_us TAB agent_id TAB record` (see
/// `PostgresAuditLog.spoolLinePrefix`), checked so that one damaged line can neither make
/// PostgreSQL refuse the whole shipment nor land in the table: the id is a UUID, the time
/// is digits, and the record looks like a JSON object (braces at both ends, no control
/// characters, which JSON escapes). A full JSON parse per record would cost more than the
/// rest of shipping; the checks catch cut-short and garbled lines.
struct SpoolLineFields {
    let decisionID: Range<Int>
    let timeMicros: Int64
    let agentID: Range<Int>
    let record: Range<Int>

    init?(_ line: ArraySlice<UInt8>) {
        let tab = UInt8(ascii: "\t")
        guard let t1 = line.firstIndex(of: tab), let t2 = line[(t1 + 1)...].firstIndex(of: tab),
              let t3 = line[(t2 + 1)...].firstIndex(of: tab), t3 + 1 < line.endIndex else { return nil }
        // A UUID in its canonical text form.
        let id = line[line.startIndex..<t1]
        guard id.count == 36, id.enumerated().allSatisfy({ i, c in
            i == 8 || i == 13 || i == 18 || i == 23 ? c == UInt8(ascii: "-") : Self.isHexDigit(c)
        }) else { return nil }
        let time = line[(t1 + 1)..<t2]
        guard (1...18).contains(time.count), time.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        let recordBytes = line[(t3 + 1)...]
        guard recordBytes.first == UInt8(ascii: "{"), recordBytes.last == UInt8(ascii: "}"), !Self.hasControlCharacter(recordBytes),
              !Self.hasControlCharacter(line[(t2 + 1)..<t3]) else { return nil }
        decisionID = line.startIndex..<t1
        timeMicros = time.reduce(0) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
        agentID = (t2 + 1)..<t3
        record = (t3 + 1)..<line.endIndex
    }

    /// Branch-free over the bytes, so that the compiler can vectorize it.
    static func hasControlCharacter(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.withUnsafeBufferPointer { b in
            var found: UInt8 = 0
            for c in b { found |= c < 0x20 ? 1 : 0 }
            return found != 0
        }
    }

    static func isHexDigit(_ c: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(c)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(c)
    }
}

/// UTC calendar fields of a Unix time in microseconds (proleptic Gregorian; the
/// days-to-civil algorithm from Howard Hinnant's "chrono-Compatible Low-Level Date Algorithms").
struct CivilTime: Equatable {
    let year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64, microsecond: Int64

    init(unixMicros: Int64) {
        let perDay: Int64 = 86_400_000_000
        let days = unixMicros >= 0 ? unixMicros / perDay : (unixMicros - perDay + 1) / perDay
        var rest = unixMicros - days * perDay
        hour = rest / 3_600_000_000
        rest %= 3_600_000_000
        minute = rest / 60_000_000
        rest %= 60_000_000
        second = rest / 1_000_000
        microsecond = rest % 1_000_000
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * mp + 2) / 5 + 1
        month = mp < 10 ? mp + 3 : mp - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }
}
