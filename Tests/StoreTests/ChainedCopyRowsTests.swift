import AgentIdentity
import Rego
import Testing
@testable import Store

/// The shipper's binary COPY data, built from spool lines: what PostgreSQL is sent, byte
/// for byte (the format: PostgreSQL's documentation of COPY, "Binary Format").
struct ChainedCopyRowsTests {
    static let id1 = "01a202cb-a4f2-735e-b7d2-ca8fb42ea383"
    static let id2 = "01a202cb-a4f4-7555-b2b1-0085dfb1413c"

    static func line(_ id: String, _ micros: Int64, _ agent: String?, _ record: String) -> ArraySlice<UInt8> {
        ArraySlice((PostgresAuditLog.spoolLinePrefix(decisionID: id, timeMicros: micros, agentID: agent) + record).utf8)
    }

    static func bigEndian<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
    static func field(_ bytes: [UInt8]) -> [UInt8] { bigEndian(Int32(bytes.count)) + bytes }

    @Test func rowsCarryTheFieldsAndTheChainInBinary() {
        // Backslashes and quotes travel as they are; an agent-less record gets NULL.
        let r1 = #"{"path":"/a\"b","decision":"allow"}"#, r2 = #"{"decision":"deny"}"#
        var rows = ChainedCopyRows(after: 41, hash: AuditChain.genesis, capacity: 0)
        let added = [rows.add(spoolLine: Self.line(Self.id1, 1_795_343_230_194_677, "agent/a@t", r1)),
                     rows.add(spoolLine: Self.line(Self.id2, 1_795_343_230_000_001, nil, r2))]
        #expect(added == [true, true])
        let h1 = AuditChain.hash(previous: AuditChain.genesis, record: r1)
        let h2 = AuditChain.hash(previous: h1, record: r2)
        let uuid1 = Hex.decode("01a202cba4f2735eb7d2ca8fb42ea383")!, uuid2 = Hex.decode("01a202cba4f47555b2b10085dfb1413c")!
        // 2026-11-22 10:27:10.194677 UTC is 848,658,430,194,677 µs after 2000-01-01.
        var expected = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]
        expected += Self.bigEndian(Int16(7)) + Self.field(Self.bigEndian(Int64(42))) + Self.field(uuid1)
            + Self.field(Self.bigEndian(Int64(848_658_430_194_677))) + Self.field(Array("agent/a@t".utf8)) + Self.field(Array(r1.utf8))
            + Self.field(AuditChain.genesis) + Self.field(h1)
        expected += Self.bigEndian(Int16(7)) + Self.field(Self.bigEndian(Int64(43))) + Self.field(uuid2)
            + Self.field(Self.bigEndian(Int64(848_658_430_000_001))) + Self.bigEndian(Int32(-1)) + Self.field(Array(r2.utf8))
            + Self.field(h1) + Self.field(h2)
        expected += [0xFF, 0xFF]
        #expect(rows.seq == 43 && rows.count == 2 && rows.hash == h2)
        #expect(rows.copyData() == expected)
    }

    @Test func noRowsSendNothing() {
        #expect(ChainedCopyRows(after: 0, hash: AuditChain.genesis, capacity: 0).copyData().isEmpty)
    }

    @Test(arguments: [
        "not-a-uuid\t1\ta\t{}",
        "01a202cb-a4f2-735e-b7d2-ca8fb42ea38\t1\ta\t{}",   // one digit short
        "01a202cb-a4f2-735e-b7d2-ca8fb42ea38g\t1\ta\t{}",  // not hex
        "01a202cb-a4f2-735e-b7d2-ca8fb42ea383\t-1\ta\t{}",
        "01a202cb-a4f2-735e-b7d2-ca8fb42ea383\t12x\ta\t{}",
        "01a202cb-a4f2-735e-b7d2-ca8fb42ea383\t1\ta",       // no record
        "01a202cb-a4f2-735e-b7d2-ca8fb42ea383\t1\ta\t",     // empty record
        "{\"a partial record",
        "01a202cb-a4f2-735e-b7d2-ca8fb42ea383\t1\ta\t{\"cut\":",          // cut short
        "01a202cb-a4f2-735e-b7d2-ca8fb42ea383\t1\ta\t{\"a\":\"x\ty\"}",   // a raw tab: not JSON
        "01a202cb-a4f2-735e-b7d2-ca8fb42ea383\t1\ta\t{\"a\":\"x\ry\"}",
        "01a202cb-a4f2-735e-b7d2-ca8fb42ea383\t1\ta\u{1}\t{}",
    ])
    func damagedLinesAreRefusedAndAddNothing(line: String) {
        var rows = ChainedCopyRows(after: 7, hash: AuditChain.genesis, capacity: 0)
        let added = rows.add(spoolLine: ArraySlice(line.utf8))
        #expect(!added)
        #expect(rows.seq == 7 && rows.count == 0 && rows.hash == AuditChain.genesis && rows.copyData().isEmpty)
    }
}
