internal import CGRPCCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// gRPC status codes (the subset Warden answers with).
public enum GRPCStatus: Int32, Sendable {
    case ok = 0
    case cancelled = 1
    case unknown = 2
    case invalidArgument = 3
    case deadlineExceeded = 4
    case notFound = 5
    case permissionDenied = 7
    case resourceExhausted = 8
    case failedPrecondition = 9
    case unimplemented = 12
    case `internal` = 13
    case unavailable = 14
    case unauthenticated = 16
}

/// What a unary handler answers: a status, its message, and the response message bytes.
public struct UnaryResponse: Sendable {
    public var status: GRPCStatus
    public var statusMessage: String
    public var payload: [UInt8]?

    public init(status: GRPCStatus = .ok, statusMessage: String = "", payload: [UInt8]?) {
        self.status = status
        self.statusMessage = statusMessage
        self.payload = payload
    }

    public static func ok(_ payload: [UInt8]) -> UnaryResponse { UnaryResponse(payload: payload) }
    public static func error(_ status: GRPCStatus, _ message: String) -> UnaryResponse {
        UnaryResponse(status: status, statusMessage: message, payload: nil)
    }
}

/// Handles one unary call: request message bytes in, response out. Runs on a completion
/// queue thread or a helper thread, concurrently with other calls, so it must be
/// thread-safe and must not block for long.
public typealias UnaryHandler = @Sendable (_ request: [UInt8]) -> UnaryResponse

public struct GRPCServerOptions: Sendable {
    /// `host:port` for TCP, `unix:/path` for a Unix socket.
    public var addresses: [String]
    /// Larger messages are refused with RESOURCE_EXHAUSTED by the core.
    public var maxMessageBytes: Int = 4 << 20
    /// Completion-queue threads. On 2 cores one queue thread is fastest at low load.
    public var queueThreads: Int = 1
    /// Calls kept requested per method and queue, so bursts do not wait for a re-post.
    public var pendingCalls: Int = 32
    /// Threads that help the queue threads answer when several calls arrive at once
    /// (0: each queue thread answers all of its calls itself). A lone call is always
    /// answered by the queue thread that received it, without waking anyone.
    public var helperThreads: Int = GRPCServerOptions.defaultHelperThreads
    /// Stack of each queue and helper thread: policy evaluation recurses.
    public var threadStackBytes: Int = 32 << 20

    /// One fewer than the CPUs online (none on one CPU), at most 16.
    public static var defaultHelperThreads: Int { max(0, min(sysconf(Int32(_SC_NPROCESSORS_ONLN)) - 1, 16)) }

    public init(addresses: [String]) { self.addresses = addresses }
}

public struct GRPCServerError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// A gRPC server on the C gRPC core, serving unary methods.
public final class GRPCServer: @unchecked Sendable {
    // @unchecked: the C server and queues are thread-safe per the core's contract; Swift
    // state is set before `start` returns and read-only after, except `stopping`, which
    // is atomic.
    private let options: GRPCServerOptions
    private let methods: [(path: String, handler: UnaryHandler)]
    private var server: OpaquePointer?
    private var queues: [OpaquePointer] = []
    private var methodHandles: [UnsafeMutableRawPointer?] = []
    private var threads: [pthread_t] = []
    private var helpers: [pthread_t] = []
    private let sharing: CallSharing?
    /// The most events a queue thread takes, without waiting, before it answers the calls
    /// among them: a steady stream of completions cannot keep new calls waiting.
    private static let gatherLimit = 64
    /// The most answers a helper prepares before handing them back together: fewer
    /// wake-ups of the queue thread under load, at most seven answers' delay for the first.
    private static let handBackLimit = 8
    private let stopping = Atomic<Bool>(false)
    private static let initialized = Mutex<Int>(0)

    public init(options: GRPCServerOptions, methods: [(path: String, handler: UnaryHandler)]) {
        self.options = options
        self.methods = methods
        self.sharing = options.helperThreads > 0 ? CallSharing() : nil
    }

    /// Binds every address and starts serving. Throws, with the address, when a port is
    /// taken or an address is malformed.
    public func start() throws(GRPCServerError) {
        GRPCServer.initialized.withLock { n in
            if n == 0 { grpc_init() }
            n += 1
        }
        let args = warden_server_args(Int32(clamping: options.maxMessageBytes))
        defer { warden_server_args_free(args) }
        guard let server = grpc_server_create(args, nil) else { throw GRPCServerError(description: "cannot create gRPC server") }
        self.server = server
        for _ in 0..<max(1, options.queueThreads) {
            let cq = grpc_completion_queue_create_for_next(nil)!
            grpc_server_register_completion_queue(server, cq, nil)
            queues.append(cq)
        }
        for m in methods {
            let handle = m.path.withCString { grpc_server_register_method(server, $0, nil, GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0) }
            methodHandles.append(handle)
        }
        for address in options.addresses {
            let port = address.withCString { warden_server_add_insecure_port(server, $0) }
            if port == 0 {
                destroyUnstarted()
                throw GRPCServerError(description: "cannot listen on \(address): the address is in use or invalid")
            }
        }
        grpc_server_start(server)
        for (qi, cq) in queues.enumerated() {
            for (mi, handle) in methodHandles.enumerated() {
                for _ in 0..<options.pendingCalls { post(WARDEN_CALL_REGISTERED, mi, handle, cq) }
            }
            for _ in 0..<4 { post(WARDEN_CALL_GENERIC, -1, nil, cq) }
            threads.append(try startThread(named: "warden-queue") { $0.runQueue($0.queues[qi]) })
        }
        if let sharing {
            for _ in 0..<options.helperThreads {
                helpers.append(try startThread(named: "warden-helper") { $0.runHelper(sharing) })
            }
        }
    }

    private func destroyUnstarted() {
        if let server { grpc_server_destroy(server) }
        for cq in queues {
            grpc_completion_queue_shutdown(cq)
            grpc_completion_queue_destroy(cq)
        }
        queues = []
        server = nil
        GRPCServer.releaseCore()
    }

    private static func releaseCore() {
        initialized.withLock { n in
            n -= 1
            if n == 0 { grpc_shutdown() }
        }
    }

    /// A thread with a large stack (policy evaluation recurses) running `body`, named for
    /// `top -H` and `perf` (at most 15 bytes).
    private func startThread(named name: StaticString, _ body: @escaping @Sendable (GRPCServer) -> Void) throws(GRPCServerError) -> pthread_t {
        final class Context {
            let server: GRPCServer
            let name: StaticString
            let body: @Sendable (GRPCServer) -> Void
            init(_ s: GRPCServer, _ n: StaticString, _ b: @escaping @Sendable (GRPCServer) -> Void) { server = s; name = n; body = b }
        }
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setstacksize(&attr, options.threadStackBytes)
        let context = Unmanaged.passRetained(Context(self, name, body)).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, &attr, { raw in
            let ctx = Unmanaged<AnyObject>.fromOpaque(raw!).takeRetainedValue()
            let c = unsafeDowncast(ctx, to: Context.self)
            c.name.withUTF8Buffer { n in  // a StaticString literal is NUL-terminated
                n.withMemoryRebound(to: CChar.self) { warden_name_thread($0.baseAddress!) }
            }
            c.body(c.server)
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<AnyObject>.fromOpaque(context).release()
            throw GRPCServerError(description: "cannot start a gRPC server thread (error \(rc))")
        }
        return tid
    }

    private func post(_ kind: Int, _ methodIndex: Int, _ handle: UnsafeMutableRawPointer?, _ cq: OpaquePointer) {
        guard !stopping.load(ordering: .relaxed), let server, let call = warden_call_create(Int32(kind), Int32(methodIndex), handle) else { return }
        if warden_call_request(server, cq, call) != GRPC_CALL_OK {
            warden_call_destroy(call)
        }
    }

    /// Waits for events on `cq` and answers new calls. A call is answered as soon as it is
    /// taken, so a lone call never waits. Then, with helper threads, the queue thread
    /// gathers what arrived meanwhile without waiting, hands all but one to the helpers,
    /// answers that one, and gathers again, until nothing more is ready.
    private func runQueue(_ cq: OpaquePointer) {
        var arrived: [UnsafeMutablePointer<warden_call>] = []
        arrived.reserveCapacity(GRPCServer.gatherLimit)
        var gathering = false
        var looked = 0  // events taken while gathering: a round ends after gatherLimit
        while true {
            let event = grpc_completion_queue_next(cq, gathering ? warden_now_or_never() : warden_infinite(), nil)
            switch event.type {
            case GRPC_QUEUE_SHUTDOWN:
                for call in arrived { answer(call) }
                return
            case GRPC_OP_COMPLETE:
                let call = event.tag.flatMap { accept($0.assumingMemoryBound(to: warden_call.self), success: event.success != 0, cq: cq) }
                if !gathering {
                    guard let call else { continue }
                    answer(call)
                    gathering = sharing != nil
                    continue
                }
                if let call { arrived.append(call) }
                looked += 1
                if looked < GRPCServer.gatherLimit { continue }
            default:
                break  // GRPC_QUEUE_TIMEOUT while gathering: nothing more is ready now
            }
            looked = 0
            guard let sharing, let first = arrived.first else {
                gathering = false
                continue
            }
            if arrived.count > 1 { sharing.handOver(arrived.dropFirst()) }
            arrived.removeAll(keepingCapacity: true)
            answer(first)
        }
    }

    /// A completed tag: a new call to answer (returned, after requesting one more in its
    /// place); a helper's prepared answer (sent here); or a finished response or an unused
    /// request at shutdown (freed here).
    private func accept(_ call: UnsafeMutablePointer<warden_call>, success: Bool, cq: OpaquePointer) -> UnsafeMutablePointer<warden_call>? {
        if call.pointee.stage == Int32(WARDEN_STAGE_PREPARED) {
            guard success else { GRPCServer.destroyChain(call); return nil }
            var next: UnsafeMutablePointer<warden_call>? = call
            while let prepared = next {
                next = prepared.pointee.next_prepared
                if warden_call_start_response(prepared) != GRPC_CALL_OK { warden_call_destroy(prepared) }
            }
            return nil
        }
        if call.pointee.stage == Int32(WARDEN_STAGE_RESPONDING) || !success {
            warden_call_destroy(call)
            return nil
        }
        post(Int(call.pointee.kind), Int(call.pointee.method_index), call.pointee.method, cq)
        return call
    }

    /// On a queue thread: runs the call's handler and sends the response.
    private func answer(_ call: UnsafeMutablePointer<warden_call>) {
        prepare(call)
        if warden_call_start_response(call) != GRPC_CALL_OK { warden_call_destroy(call) }
    }

    /// A helper: takes the calls handed over, up to `handBackLimit` at a time, prepares
    /// their answers and hands them back in one chain, whose head's tag the core posts to
    /// its queue; that queue's thread sends them all (`accept`). Sending from here instead,
    /// while the queue thread reads the connection, makes the core pass its transport work
    /// to its executor threads, which cost more CPU per Check than the hand-back.
    private func runHelper(_ sharing: CallSharing) {
        var calls: [UnsafeMutablePointer<warden_call>] = []
        calls.reserveCapacity(GRPCServer.handBackLimit)
        while sharing.waitAndTake(upTo: GRPCServer.handBackLimit, into: &calls) {
            // In arrival order, then chained so that they are sent in that order too.
            for call in calls { prepare(call) }
            var head: UnsafeMutablePointer<warden_call>?
            for call in calls.reversed() {
                call.pointee.next_prepared = head
                head = call
            }
            calls.removeAll(keepingCapacity: true)
            if let head, warden_call_return_to_queue(head) != GRPC_CALL_OK {
                GRPCServer.destroyChain(head)
            }
        }
    }

    private static func destroyChain(_ head: UnsafeMutablePointer<warden_call>) {
        var next: UnsafeMutablePointer<warden_call>? = head
        while let call = next {
            next = call.pointee.next_prepared
            warden_call_destroy(call)
        }
    }

    /// Runs the call's handler (or answers UNIMPLEMENTED for an unknown method) and
    /// prepares the response in the call's state.
    private func prepare(_ call: UnsafeMutablePointer<warden_call>) {
        let kind = Int(call.pointee.kind)
        let response: UnaryResponse
        if kind == WARDEN_CALL_REGISTERED {
            let length = warden_call_payload_length(call)
            var bytes = [UInt8](repeating: 0, count: length)
            let copied = bytes.withUnsafeMutableBufferPointer { warden_call_payload_copy(call, $0.baseAddress, length) }
            if copied == 0 {
                response = .error(.internal, "cannot read the request message")
            } else {
                response = methods[Int(call.pointee.method_index)].handler(bytes)
            }
        } else {
            var name = [CChar](repeating: 0, count: 256)
            let n = warden_call_method(call, &name, name.count)
            let method = String(decoding: name.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            response = .error(.unimplemented, "unknown method \(method)")
        }
        let details = Array(response.statusMessage.utf8)
        details.withUnsafeBufferPointer { d in
            d.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(1, d.count)) { dp in
                let status = grpc_status_code(rawValue: response.status.rawValue)
                if let payload = response.payload {
                    payload.withUnsafeBufferPointer { p in warden_call_prepare_response(call, p.baseAddress, p.count, 1, status, dp, d.count) }
                } else {
                    warden_call_prepare_response(call, nil, 0, 0, status, dp, d.count)
                }
            }
        }
    }

    /// Stops accepting calls, lets calls in flight finish for up to `grace`, then cancels
    /// what remains, drains the queues and joins their threads.
    public func shutdown(grace: Duration = .seconds(5)) {
        guard let server, !stopping.exchange(true, ordering: .relaxed) else { return }
        let shutdownQueue = grpc_completion_queue_create_for_next(nil)!
        let tag = UnsafeMutableRawPointer(bitPattern: 0x5EED)!
        grpc_server_shutdown_and_notify(server, shutdownQueue, tag)
        let ms = Int64(grace.components.seconds * 1000 + grace.components.attoseconds / 1_000_000_000_000_000)
        let event = grpc_completion_queue_next(shutdownQueue, warden_deadline_ms(ms), nil)
        if event.type != GRPC_OP_COMPLETE {
            grpc_server_cancel_all_calls(server)
            _ = grpc_completion_queue_next(shutdownQueue, warden_infinite(), nil)
        }
        for cq in queues { grpc_completion_queue_shutdown(cq) }
        for t in threads { pthread_join(t, nil) }
        threads = []
        sharing?.close()
        for t in helpers { pthread_join(t, nil) }
        helpers = []
        grpc_server_destroy(server)
        self.server = nil
        for cq in queues { grpc_completion_queue_destroy(cq) }
        queues = []
        grpc_completion_queue_shutdown(shutdownQueue)
        while grpc_completion_queue_next(shutdownQueue, warden_infinite(), nil).type != GRPC_QUEUE_SHUTDOWN {}
        grpc_completion_queue_destroy(shutdownQueue)
        GRPCServer.releaseCore()
    }

}
