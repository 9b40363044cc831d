import Rego

/// One shipment of spooled decisions as the rows of `COPY warden_decisions … FROM STDIN`
/// in PostgreSQL's binary format, chained as they are added: each row's hash covers the one
/// before it. Works on the spool's bytes as read, so a record is never copied into a
/// `String`. Binary rather than text: PostgreSQL neither scans the records for escapes nor
/// parses timestamps, UUIDs and hex, which took about a third of its CPU per row.
struct ChainedCopyRows {
    private var data: [UInt8] = []
    private(set) var seq: Int64
    private(set) var hash: [UInt8]
    private(set) var count = 0

    init(after seq: Int64, hash: [UInt8], capacity: Int) {
        self.seq = seq
        self.hash = hash
        data.reserveCapacity(capacity)
        data += Self.header
    }

    /// The columns each row carries, in order.
    static let statement: StaticString = "COPY warden_decisions (seq, decision_id, time, agent_id, record, prev_hash, row_hash) FROM STDIN WITH (FORMAT binary)"

    /// The binary format's signature, flags (none) and header extension length (none).
    static let header: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0]
    static let columns: Int16 = 7
    /// `timestamptz` counts microseconds from 2000-01-01 00:00:00 UTC.
    static let postgresEpochMicros: Int64 = 946_684_800_000_000

    /// Room for `lines` as rows: a row takes at most its line's bytes plus 128, for the field
    /// count, seven lengths, the seq and two hashes (the binary id and time are shorter than
    /// their text in the line).
    static func capacity(for lines: [ArraySlice<UInt8>]) -> Int {
        header.count + lines.reduce(0) { $0 + $1.count + 128 } + 2
    }

    /// What COPY is sent: the header, the rows, the trailer. Empty when no row was added.
    /// Consumes the rows: the trailer is appended in place, without copying a shipment that
    /// can be megabytes (page faults on freshly allocated memory, this copy's among them,
    /// were about a sixth of the shipper's time).
    consuming func copyData() -> [UInt8] {
        guard count > 0 else { return [] }
        data += [0xFF, 0xFF]
        return data
    }

    /// Adds one spool line; false, adding nothing, when it is not a decision record.
    mutating func add(spoolLine line: ArraySlice<UInt8>) -> Bool {
        guard let fields = SpoolLineFields(line) else { return false }
        let previous = hash
        seq += 1
        hash = AuditChain.hash(previous: previous, record: line[fields.record])
        count += 1
        appendInteger(Self.columns)
        appendField(length: 8)
        appendInteger(seq)
        appendField(length: 16)
        appendUUID(line[fields.decisionID])
        appendField(length: 8)
        appendInteger(fields.timeMicros - Self.postgresEpochMicros)
        if fields.agentID.isEmpty {
            appendInteger(Int32(-1))  // NULL
        } else {
            appendField(line[fields.agentID])
        }
        appendField(line[fields.record])
        appendField(previous[...])
        appendField(hash[...])
        return true
    }

    private mutating func appendInteger<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { data.append(contentsOf: $0) }
    }

    private mutating func appendField(length: Int) { appendInteger(Int32(length)) }

    private mutating func appendField(_ bytes: ArraySlice<UInt8>) {
        appendField(length: bytes.count)
        data += bytes
    }

    /// The 16 bytes of a UUID in its canonical text form (checked by `SpoolLineFields`).
    private mutating func appendUUID(_ text: ArraySlice<UInt8>) {
        var high: UInt8?
        for c in text where c != UInt8(ascii: "-") {
            let nibble = Hex.nibble(c) ?? 0
            if let h = high {
                data.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
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
            i == 8 || i == 13 || i == 18 || i == 23 ? c == UInt8(ascii: "-") : Hex.nibble(c) != nil
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

}
