// The benchmark's yardstick: an ext_authz server on the same gRPC layer as Warden that
// allows everything without looking at the request. Not a feature; `make bench` only.
//
// Usage: bench-allow-server [--decode] [HOST:PORT] [QUEUE_THREADS] [HELPER_THREADS]   (the
// layer's defaults, as in Warden: one queue thread, one helper fewer than the CPUs)
//
// `--decode`: the control arm. Each request is decoded with swift-protobuf, as a Swift
// authorizer built the usual way reads it, and then allowed all the same (a request that
// does not decode is denied): what reading the request costs, with nothing decided.
import EnvoyProto
import GRPCRuntime
import SwiftProtobuf

#if canImport(Glibc)
import Glibc
#endif

let decode = CommandLine.arguments.dropFirst().contains("--decode")
let arguments = CommandLine.arguments.filter { $0 != "--decode" }
let address = arguments.count > 1 ? arguments[1] : "127.0.0.1:9292"
var ok = Envoy_Service_Auth_V3_CheckResponse()
ok.status.code = 0
ok.okResponse = Envoy_Service_Auth_V3_OkHttpResponse()
let answer: [UInt8] = try ok.serializedBytes()
var undecodable = Envoy_Service_Auth_V3_CheckResponse()
undecodable.status.code = 3  // INVALID_ARGUMENT
undecodable.deniedResponse.status.code = .badRequest
let refusal: [UInt8] = try undecodable.serializedBytes()

signal(SIGINT, SIG_DFL)
var signals = sigset_t()
sigemptyset(&signals)
sigaddset(&signals, SIGINT)
sigaddset(&signals, SIGTERM)
pthread_sigmask(SIG_BLOCK, &signals, nil)

var options = GRPCServerOptions(addresses: [address])
/// The count in argument `index`, if given: at least `minimum`, or the server exits 2.
func count(argument index: Int, _ name: String, atLeast minimum: Int) -> Int? {
    guard arguments.count > index else { return nil }
    guard let n = Int(arguments[index]), n >= minimum else {
        let message = "bench-allow-server: \(name) must be a whole number of at least \(minimum), not \(arguments[index])\n"
        _ = message.withCString { write(2, $0, strlen($0)) }
        exit(2)
    }
    return n
}
if let threads = count(argument: 2, "QUEUE_THREADS", atLeast: 1) { options.queueThreads = threads }
if let helpers = count(argument: 3, "HELPER_THREADS", atLeast: 0) { options.helperThreads = helpers }
let server = GRPCServer(options: options, methods: [
    ("/envoy.service.auth.v3.Authorization/Check", { request in
        guard decode else { return .ok(answer) }
        guard (try? Envoy_Service_Auth_V3_CheckRequest(serializedBytes: request)) != nil else { return .ok(refusal) }
        return .ok(answer)
    }),
])
try server.start()
print("allow-server listening on \(address)\(decode ? ", decoding each request" : "")")
var sig: Int32 = 0
sigwait(&signals, &sig)
server.shutdown()
