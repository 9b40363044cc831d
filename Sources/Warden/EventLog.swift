public import Rego
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Structured log lines (JSON, one per line) on standard error.
public final class EventLog: Sendable {
    public enum Level: String, Sendable { case debug, info, warn, error }
    private let minimum: Int
    private let lock = Mutex<Void>(())

    public init(level: Level = .info) {
        minimum = EventLog.rank(level)
    }

    static func rank(_ l: Level) -> Int {
        switch l {
        case .debug: return 0
        case .info: return 1
        case .warn: return 2
        case .error: return 3
        }
    }

    public func log(_ level: Level, _ message: String, _ fields: [String: Value] = [:]) {
        guard EventLog.rank(level) >= minimum else { return }
        var o = RegoObject(fields: fields)
        o["level"] = .string(level.rawValue)
        o["msg"] = .string(message)
        o["time"] = .string(EventLog.timestamp())
        let line = Value.object(o).jsonString() + "\n"
        lock.withLock { _ in FileHandle.standardError.write(line.data(using: .utf8)!) }
    }

    public func info(_ m: String, _ f: [String: Value] = [:]) { log(.info, m, f) }
    public func warn(_ m: String, _ f: [String: Value] = [:]) { log(.warn, m, f) }
    public func error(_ m: String, _ f: [String: Value] = [:]) { log(.error, m, f) }

    /// Milliseconds are enough for logs; no formatter object per line (one line per Check).
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return RFC3339.format(seconds: ts.tv_sec, nanos: ts.tv_nsec / 1_000_000 * 1_000_000)
    }
}
