import Testing
@testable import Store

/// Every interpolated value becomes a bind parameter; only literals become SQL text.
struct SQLTests {
    @Test func interpolatedValuesAreBindParameters() {
        let id = "x'; DROP TABLE warden_agents; --"
        let q: SQL = "SELECT * FROM warden_agents WHERE id = \(id) AND tier = \(2) AND tenant = \(nil as String?)"
        #expect(q.text == "SELECT * FROM warden_agents WHERE id = $1 AND tier = $2 AND tenant = $3")
        #expect(q.binds == [id, "2", nil])
    }

    @Test func textArraysRoundTrip() {
        let values = ["search", "a \"quoted\" tool", "back\\slash", "with,comma", ""]
        let literal = SQL.arrayLiteral(values)
        #expect(literal == #"{"search","a \"quoted\" tool","back\\slash","with,comma",""}"#)
        #expect(SQL.parseArray(literal) == values)
        #expect(SQL.parseArray("{dev,staging}") == ["dev", "staging"])
        #expect(SQL.parseArray("{}") == [])
    }

    @Test func fragmentsSpliceWithoutBinds() {
        let columns: SQL = "SELECT id FROM t"
        let q: SQL = "\(sql: columns) WHERE id = \("a")"
        #expect(q.text == "SELECT id FROM t WHERE id = $1")
    }

    @Test func passwordsAreRedactedFromURLs() {
        #expect(PostgresConnection.redacted("postgresql://warden:s3cret@db:5432/warden") == "postgresql://warden:***@db:5432/warden")
        #expect(PostgresConnection.redacted("postgresql://warden@db/warden") == "postgresql://warden@db/warden")
    }
}
