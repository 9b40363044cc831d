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

/// SwiftPM links an executable's entry point as `<target>_main`; libFuzzer's driver is
/// started from there (libFuzzer's own `main` is then not needed).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

@_cdecl("fuzz_rego_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var args = argv
    return LLVMFuzzerRunDriver(&count, &args) { data, size in fuzzRego(data, size) }
}
