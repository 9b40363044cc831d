/// OPA's stable error codes, so tooling written for OPA reads Warden's errors unchanged.
public enum ErrorCode: String, Sendable {
    case parse = "rego_parse_error"
    case compile = "rego_compile_error"
    case unsafeVar = "rego_unsafe_var_error"
    case recursion = "rego_recursion_error"
    case type = "rego_type_error"
    case evalConflict = "eval_conflict_error"
    case evalType = "eval_type_error"
    case evalBuiltin = "eval_builtin_error"
    case evalCancel = "eval_cancel_error"
    case evalLimit = "eval_limit_error"
    case internalError = "eval_internal_error"
}

/// An error in a policy or in its evaluation: a code, a message a person can act on, and
/// where it happened.
public struct RegoError: Error, Sendable, CustomStringConvertible {
    public let code: ErrorCode
    public let message: String
    public let location: Location?

    public init(_ code: ErrorCode, _ message: String, at location: Location? = nil) {
        self.code = code
        self.message = message
        self.location = location
    }

    /// `file:row: code: message`, as OPA prints a single error.
    public var description: String {
        if let location { return "\(location.file):\(location.row): \(code.rawValue): \(message)" }
        return "\(code.rawValue): \(message)"
    }

    /// The error with the offending source line and a caret under the column.
    public func rendered(sources: [String: Source]) -> String {
        var out = location.map { "\($0): \(code.rawValue): \(message)" } ?? "\(code.rawValue): \(message)"
        if let location, let line = sources[location.file]?.line(location.row) {
            out += "\n\t\(line)\n\t" + String(repeating: " ", count: max(0, location.col - 1)) + "^"
        }
        return out
    }
}

/// Several errors from one compile, reported together as OPA does.
public struct RegoErrors: Error, Sendable, CustomStringConvertible {
    public let errors: [RegoError]
    public init(_ errors: [RegoError]) { self.errors = errors }
    public var description: String {
        if errors.count == 1 { return errors[0].description }
        return "\(errors.count) errors occurred:\n" + errors.map(\.description).joined(separator: "\n")
    }
}
