public import Rego
import AgentIdentity
import RegoRegex
import RegoYAML

/// Every builtin Warden offers: the pure core plus the families its adapters implement
/// (regex and glob over RE2, YAML, JWT and hashes over OpenSSL).
public enum WardenBuiltins {
    public static let registry: BuiltinRegistry = {
        var r = BuiltinRegistry.core
        r.register(RegoRegex.builtins)
        r.register(RegoYAML.builtins)
        r.register(RegoCryptoBuiltins.all)
        return r
    }()
}
