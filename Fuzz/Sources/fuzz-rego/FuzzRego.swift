import Rego

/// One fuzz input: a policy module. Parse it, compile it, and evaluate the whole `data`
/// document under a small step bound. Any crash or hang is a bug; errors are fine.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRego(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let policy = try? Rego.compile(sources: [Source(name: "fuzz.rego", text: text)]) else { return 0 }
    var options = EvalOptions()
    options.maxSteps = 20_000
    options.maxCallDepth = 50
    options.nowNs = 1_700_000_000_000_000_000
    _ = try? policy.evaluate(path: [], input: .object(RegoObject(fields: ["a": .array([.int(1), .string("x")])])), options: options)
    return 0
}
