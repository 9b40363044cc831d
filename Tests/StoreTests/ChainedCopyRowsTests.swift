import AgentIdentity
import Foundation
import Rego
import Testing
@testable import Store

/// The shipper's COPY text, built from spool lines: what PostgreSQL is sent, byte for byte.
struct ChainedCopyRowsTests {
    static let id1 = "01a202cb-a4f2-735e-b7d2-ca8fb42ea383"
    static let id2 = "01a202cb-a4f4-7555-b2b1-0085dfb1413c"

    static func line(_ id: String, _ micros: Int64, _ agent: String?, _ record: String) -> ArraySlice<UInt8> {
        ArraySlice((PostgresAuditLog.spoolLinePrefix(decisionID: id, timeMicros: micros, agentID: agent) + record).utf8)
    }

    @Test func rowsCarryTheFieldsTheChainAndCopyEscapes() {
        // A backslash in the JSON record is doubled for COPY; an agent-less record gets NULL.
        let r1 = #"{"path":"/a\"b","decision":"allow"}"#, r2 = #"{"decision":"deny"}"#
        var rows = ChainedCopyRows(after: 41, hash: AuditChain.genesis, capacity: 0)
        let added = [rows.add(spoolLine: Self.line(Self.id1, 1_795_343_230_194_677, "agent/a@t", r1)),
                     rows.add(spoolLine: Self.line(Self.id2, 1_795_343_230_000_001, nil, r2))]
        #expect(added == [true, true])
        let h1 = AuditChain.hash(previous: AuditChain.genesis, record: r1)
        let h2 = AuditChain.hash(previous: h1, record: r2)
        let zero = String(repeating: "0", count: 64)
        let expected = """
            42\t\(Self.id1)\t2026-11-22 10:27:10.194677+00\tagent/a@t\t{"path":"/a\\\\"b","decision":"allow"}\t\\\\x\(zero)\t\\\\x\(Hex.encode(h1))
            43\t\(Self.id2)\t2026-11-22 10:27:10.000001+00\t\\N\t{"decision":"deny"}\t\\\\x\(Hex.encode(h1))\t\\\\x\(Hex.encode(h2))

            """
        #expect(String(decoding: rows.text, as: UTF8.self) == expected)
        #expect(rows.seq == 43 && rows.count == 2 && rows.hash == h2)
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
        #expect(rows.text.isEmpty && rows.seq == 7 && rows.count == 0 && rows.hash == AuditChain.genesis)
    }

    /// Against Foundation's calendar, across leap days, centuries and the epoch.
    @Test(arguments: [Int64(0), -1, 951_782_400_000_000, 951_868_799_999_999, 4_107_542_400_000_123, -2_208_988_800_000_000,
                      1_795_343_230_194_677, 253_402_300_799_999_999])
    func civilTimeMatchesFoundation(micros: Int64) {
        let c = CivilTime(unixMicros: micros)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second],
                                            from: Date(timeIntervalSince1970: TimeInterval(seconds)))
        #expect([c.year, c.month, c.day, c.hour, c.minute, c.second] == [parts.year!, parts.month!, parts.day!, parts.hour!, parts.minute!, parts.second!].map(Int64.init))
        #expect(c.microsecond == micros - seconds * 1_000_000)
    }
}
