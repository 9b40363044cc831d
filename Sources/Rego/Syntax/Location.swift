import Synchronization

/// Where something is in policy source: file, 1-based row and column.
///
/// Every term and expression carries one, and evaluation copies terms all the time: the
/// file is an index into `SourceFileNames` rather than a `String`, so a copy is three
/// integers and costs no reference counting.
public struct Location: Sendable, Hashable, CustomStringConvertible {
    let fileID: Int32
    let row32: Int32
    let col32: Int32

    public init(file: String, row: Int, col: Int) {
        self.init(fileID: SourceFileNames.id(file), row: row, col: col)
    }

    init(fileID: Int32, row: Int, col: Int) {
        self.fileID = fileID
        self.row32 = Int32(clamping: row)
        self.col32 = Int32(clamping: col)
    }

    public var file: String { SourceFileNames.name(fileID) }
    public var row: Int { Int(row32) }
    public var col: Int { Int(col32) }

    public var description: String {
        let file = self.file
        return file.isEmpty ? "\(row):\(col)" : "\(file):\(row):\(col)"
    }
}

/// The names of policy files, interned: a name gets one id for the life of the process
/// (reloading a bundle reuses its files' ids), so the table grows only with new names.
enum SourceFileNames {
    private static let table = Mutex<(names: [String], ids: [String: Int32])>(([""], ["": 0]))

    static func id(_ name: String) -> Int32 {
        if name.isEmpty { return 0 }
        return table.withLock { t in
            if let id = t.ids[name] { return id }
            let id = Int32(t.names.count)
            t.names.append(name)
            t.ids[name] = id
            return id
        }
    }

    static func name(_ id: Int32) -> String {
        table.withLock { t in Int(id) < t.names.count ? t.names[Int(id)] : "" }
    }
}

/// A policy source file: its name and text, kept so errors can quote the offending line.
public struct Source: Sendable {
    public let name: String
    public let text: String

    public init(name: String, text: String) {
        self.name = name
        self.text = text
    }

    /// The text of a 1-based row, for error messages.
    public func line(_ row: Int) -> String? {
        var n = 1
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if n == row { return String(line) }
            n += 1
        }
        return nil
    }
}
