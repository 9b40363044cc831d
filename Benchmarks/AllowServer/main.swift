// The benchmark's yardstick: an ext_authz server on the same gRPC layer as Warden that
// allows everything without looking at the request. Not a feature; `make bench` only.
//
// Usage: bench-allow-server [HOST:PORT] [QUEUE_THREADS] [HELPER_THREADS]   (the layer's
// defaults, as in Warden: one queue thread, one helper fewer than the CPUs)
import EnvoyProto
import GRPCRuntime
import SwiftProtobuf

#if canImport(Glibc)
import Glibc
#endif

let address = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "127.0.0.1:9292"
var ok = Envoy_Service_Auth_V3_CheckResponse()
ok.status.code = 0
ok.okResponse = Envoy_Service_Auth_V3_OkHttpResponse()
let answer: [UInt8] = try ok.serializedBytes()

signal(SIGINT, SIG_DFL)
var signals = sigset_t()
sigemptyset(&signals)
sigaddset(&signals, SIGINT)
sigaddset(&signals, SIGTERM)
pthread_sigmask(SIG_BLOCK, &signals, nil)

var options = GRPCServerOptions(addresses: [address])
/// The count in argument `index`, if given: at least `minimum`, or the server exits 2.
func count(argument index: Int, _ name: String, atLeast minimum: Int) -> Int? {
    guard CommandLine.arguments.count > index else { return nil }
    guard let n = Int(CommandLine.arguments[index]), n >= minimum else {
        let message = "bench-allow-server: \(name) must be a whole number of at least \(minimum), not \(CommandLine.arguments[index])\n"
        _ = message.withCString { write(2, $0, strlen($0)) }
        exit(2)
    }
    return n
}
if let threads = count(argument: 2, "QUEUE_THREADS", atLeast: 1) { options.queueThreads = threads }
if let helpers = count(argument: 3, "HELPER_THREADS", atLeast: 0) { options.helperThreads = helpers }
let server = GRPCServer(options: options, methods: [
    ("/envoy.service.auth.v3.Authorization/Check", { _ in .ok(answer) }),
])
try server.start()
print("allow-server listening on \(address)")
var sig: Int32 = 0
sigwait(&signals, &sig)
server.shutdown()
