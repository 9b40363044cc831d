internal import CLibPQ

/// A failed database operation: what Warden was doing, PostgreSQL's message and, when the
/// server sent one, its SQLSTATE (`23505` unique violation, `40001` serialization failure …).
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let sqlState: String?

    public init(_ message: String, sqlState: String? = nil) {
        self.message = message
        self.sqlState = sqlState
    }

    public var description: String { sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message }
}

/// The rows of a query, as text (libpq's text format); nil is SQL NULL.
public struct QueryResult: Sendable {
    public let columns: [String]
    public let rows: [Row]
    /// For INSERT/UPDATE/DELETE: how many rows changed.
    public let affected: Int

    public struct Row: Sendable {
        let columns: [String]
        let values: [String?]

        public subscript(_ name: String) -> String? {
            guard let i = columns.firstIndex(of: name) else { preconditionFailure("no column \(name) in the result") }
            return values[i]
        }
    }
}

/// A notification delivered by `LISTEN`.
public struct Notification: Sendable {
    public let channel: String
    public let payload: String
}

/// One libpq connection. Not thread-safe: each thread that talks to PostgreSQL owns one
/// (the registry watcher, each CLI command). Every query goes through `PQexecParams`, so
/// values travel as bind parameters, never spliced into SQL.
public final class PostgresConnection {
    let conn: OpaquePointer
    /// Statements prepared on this connection (`execute(_:prepared: true)`), by their text.
    /// Their texts come from string literals in Warden's source, so there are few of them.
    var preparedNames: [String: String] = [:]

    /// `url`: a libpq connection string or URI (`postgresql://user@host:port/db`).
    public init(url: String) throws(StoreError) {
        let withTimeout = url.contains("connect_timeout") ? url : PostgresConnection.addTimeout(url)
        guard let c = PQconnectdb(withTimeout) else { throw StoreError("out of memory connecting to PostgreSQL") }
        guard PQstatus(c) == CONNECTION_OK else {
            let message = PostgresConnection.errorText(c)
            PQfinish(c)
            throw StoreError("cannot connect to PostgreSQL at \(PostgresConnection.redacted(url)): \(message)")
        }
        conn = c
        // Notices (such as "relation already exists, skipping") are not errors: keep them
        // off stderr.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
    }

    deinit { PQfinish(conn) }

    /// True while the server connection is up.
    public var isOK: Bool { PQstatus(conn) == CONNECTION_OK }

    /// Runs `query`. `prepared`: PostgreSQL parses and plans it once per connection, the
    /// first time, and each later call only binds and runs it; for the statements a loop
    /// repeats (the decision log's shipper runs three for each shipment, and parsing and
    /// planning its statements was about a quarter of PostgreSQL's work per shipment).
    /// Prepared statements outlive a rolled-back transaction (they belong to the session),
    /// so the names stay valid for the connection's life.
    @discardableResult
    public func execute(_ query: SQL, prepared: Bool = false) throws(StoreError) -> QueryResult {
        let binds = query.binds
        let statement = prepared ? try preparedName(query) : nil
        // libpq wants C strings that live for the call; duplicate them for that long.
        let cStrings: [UnsafeMutablePointer<CChar>?] = binds.map { $0.map { strdup($0) } ?? nil }
        defer { for p in cStrings { free(p) } }
        let result: OpaquePointer? = cStrings.withUnsafeBufferPointer { values in
            values.withMemoryRebound(to: UnsafePointer<CChar>?.self) { v in
                if let statement {
                    PQexecPrepared(conn, statement, Int32(binds.count), v.baseAddress, nil, nil, 0)
                } else {
                    PQexecParams(conn, query.text, Int32(binds.count), nil, v.baseAddress, nil, nil, 0)
                }
            }
        }
        guard let result else { throw StoreError("PostgreSQL: \(PostgresConnection.errorText(conn))") }
        defer { PQclear(result) }
        if let error = PostgresConnection.failure(result) { throw error }
        let nFields = Int(PQnfields(result)), nRows = Int(PQntuples(result))
        let columns = (0..<nFields).map { String(cString: PQfname(result, Int32($0))) }
        var rows: [QueryResult.Row] = []
        rows.reserveCapacity(nRows)
        for r in 0..<nRows {
            var values: [String?] = []
            values.reserveCapacity(nFields)
            for f in 0..<nFields {
                if PQgetisnull(result, Int32(r), Int32(f)) == 1 {
                    values.append(nil)
                } else {
                    values.append(String(cString: PQgetvalue(result, Int32(r), Int32(f))))
                }
            }
            rows.append(QueryResult.Row(columns: columns, values: values))
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return QueryResult(columns: columns, rows: rows, affected: affected)
    }

    /// The name `query`'s text is prepared under on this connection, preparing it the first
    /// time (parameter types inferred, as `PQexecParams` infers them).
    func preparedName(_ query: SQL) throws(StoreError) -> String {
        if let name = preparedNames[query.text] { return name }
        let name = "warden_\(preparedNames.count + 1)"
        guard let result = PQprepare(conn, name, query.text, Int32(query.binds.count), nil) else {
            throw StoreError("PostgreSQL: \(PostgresConnection.errorText(conn))")
        }
        defer { PQclear(result) }
        if let error = PostgresConnection.failure(result) { throw error }
        preparedNames[query.text] = name
        return name
    }

    /// `COPY table (columns) FROM STDIN` with `data` in COPY's text format (rows end in a
    /// newline, columns are tab-separated, `\N` is NULL). Returns the rows copied. The table
    /// and columns are Warden's own, never user input: `statement` is a static string.
    @discardableResult
    public func copyIn(_ statement: StaticString, _ data: [UInt8]) throws(StoreError) -> Int {
        guard let started = PQexec(conn, statement.description) else { throw StoreError("PostgreSQL: \(PostgresConnection.errorText(conn))") }
        defer { PQclear(started) }
        guard PQresultStatus(started) == PGRES_COPY_IN else {
            throw PostgresConnection.failure(started) ?? StoreError("COPY did not start")
        }
        // Blocking connection: each call sends or fails; PostgreSQL takes chunks of any size.
        var sent = Int32(1)
        data.withUnsafeBufferPointer { bytes in
            var offset = 0
            while sent == 1 && offset < bytes.count {
                let n = min(1 << 20, bytes.count - offset)
                sent = (bytes.baseAddress! + offset).withMemoryRebound(to: CChar.self, capacity: n) { PQputCopyData(conn, $0, Int32(n)) }
                offset += n
            }
        }
        let ended = sent == 1 ? PQputCopyEnd(conn, nil) : PQputCopyEnd(conn, "the client could not send the data")
        guard ended == 1 else { throw StoreError("COPY could not finish: \(PostgresConnection.errorText(conn))") }
        // The COPY's result, then nil.
        var outcome: Result<Int, StoreError> = .failure(StoreError("COPY returned no result"))
        while let result = PQgetResult(conn) {
            if PQresultStatus(result) == PGRES_COMMAND_OK {
                outcome = .success(Int(String(cString: PQcmdTuples(result))) ?? 0)
            } else {
                outcome = .failure(PostgresConnection.failure(result) ?? StoreError("COPY failed: \(PostgresConnection.errorText(conn))"))
            }
            PQclear(result)
        }
        return try outcome.get()
    }

    /// The error a finished command's result carries, with its SQLSTATE; nil when it succeeded.
    static func failure(_ result: OpaquePointer) -> StoreError? {
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK: return nil
        default:
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let message = PQresultErrorMessage(result).map { String(cString: $0) } ?? "unknown error"
            return StoreError(message.trimmingTrailingNewlines(), sqlState: state)
        }
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try command("BEGIN")
        do {
            let value = try body()
            try command("COMMIT")
            return value
        } catch {
            _ = try? command("ROLLBACK")
            throw error
        }
    }

    /// A command without parameters or rows, in the simple protocol: one message, nothing to
    /// parse beyond the keyword.
    func command(_ text: StaticString) throws(StoreError) {
        guard let result = PQexec(conn, text.description) else { throw StoreError("PostgreSQL: \(PostgresConnection.errorText(conn))") }
        defer { PQclear(result) }
        if let error = PostgresConnection.failure(result) { throw error }
    }

    // MARK: - LISTEN / NOTIFY

    /// Waits up to `timeoutMs` for notifications on channels this connection listens to.
    /// Throws when the connection is lost, so the caller can reconnect.
    public func waitForNotifications(timeoutMs: Int32) throws(StoreError) -> [Notification] {
        var out = drainNotifications()
        if !out.isEmpty { return out }
        var fds = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
        guard fds.fd >= 0 else { throw StoreError("PostgreSQL connection lost") }
        let ready = poll(&fds, 1, timeoutMs)
        if ready > 0 {
            guard PQconsumeInput(conn) == 1 else {
                throw StoreError("PostgreSQL connection lost: \(PostgresConnection.errorText(conn))")
            }
            out = drainNotifications()
        }
        if PQstatus(conn) != CONNECTION_OK { throw StoreError("PostgreSQL connection lost") }
        return out
    }

    func drainNotifications() -> [Notification] {
        var out: [Notification] = []
        while let n = PQnotifies(conn) {
            out.append(Notification(channel: String(cString: n.pointee.relname), payload: String(cString: n.pointee.extra)))
            PQfreemem(n)
        }
        return out
    }

    // MARK: - Helpers

    static func errorText(_ c: OpaquePointer) -> String {
        PQerrorMessage(c).map { String(cString: $0) }?.trimmingTrailingNewlines() ?? "unknown error"
    }

    /// A URL without its password, for messages and logs.
    public static func redacted(_ url: String) -> String {
        // scheme://user:password@host… → scheme://user:***@host…
        guard let slashes = url.firstIndex(of: "/").map({ url.index($0, offsetBy: 2, limitedBy: url.endIndex) ?? url.endIndex }),
              let at = url[slashes...].firstIndex(of: "@"),
              let colon = url[slashes..<at].firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }

    /// Fails fast when the server is unreachable instead of libpq's unbounded default.
    static func addTimeout(_ url: String) -> String {
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            return url + (url.contains("?") ? "&" : "?") + "connect_timeout=3"
        }
        return url + " connect_timeout=3"
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var s = self
        while s.last == "\n" || s.last == " " { s.removeLast() }
        return s
    }
}
