/// Where something is in policy source: file, 1-based row and column.
public struct Location: Sendable, Hashable, CustomStringConvertible {
    public let file: String
    public let row: Int
    public let col: Int

    public init(file: String, row: Int, col: Int) {
        self.file = file
        self.row = row
        self.col = col
    }

    public var description: String { file.isEmpty ? "\(row):\(col)" : "\(file):\(row):\(col)" }
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
