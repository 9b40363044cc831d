import CGRPCCore
import Foundation
import Synchronization
import Testing
@testable import GRPCRuntime

/// The hand-over between a queue thread and its helpers: every call handed over is taken
/// exactly once, in batches of at most the limit, and helpers finish what is shared before
/// they stop.
struct CallSharingTests {
    /// Calls that are only numbered state, never given to the gRPC core.
    final class Calls {
        let pointers: [UnsafeMutablePointer<warden_call>]
        init(_ n: Int) {
            pointers = (0..<n).map { i in
                let p = UnsafeMutablePointer<warden_call>.allocate(capacity: 1)
                p.initialize(to: warden_call())
                p.pointee.method_index = Int32(i)
                return p
            }
        }
        deinit { for p in pointers { p.deallocate() } }
    }

    @Test func everyCallHandedOverIsTakenOnceByOneOfSeveralHelpers() throws {
        let sharing = CallSharing()
        let calls = Calls(20_000)
        final class Seen: Sendable {
            let numbers = Mutex<[Int]>([])
            let largestBatch = Mutex(0)
        }
        let seen = Seen()
        let finished = DispatchGroup()
        for _ in 0..<4 {
            finished.enter()
            Thread.detachNewThread {
                var batch: [UnsafeMutablePointer<warden_call>] = []
                while sharing.waitAndTake(upTo: 8, into: &batch) {
                    seen.largestBatch.withLock { $0 = max($0, batch.count) }
                    seen.numbers.withLock { n in n.append(contentsOf: batch.map { Int($0.pointee.method_index) }) }
                    batch.removeAll(keepingCapacity: true)
                }
                finished.leave()
            }
        }
        var at = 0
        var size = 1
        while at < calls.pointers.count {
            let end = min(at + size, calls.pointers.count)
            sharing.handOver(calls.pointers[at..<end])
            at = end
            size = size % 13 + 1
        }
        sharing.close()
        #expect(finished.wait(timeout: .now() + 30) == .success, "helpers stop once closed and empty")
        #expect(seen.numbers.withLock { $0.sorted() } == Array(0..<calls.pointers.count))
        #expect(seen.largestBatch.withLock { $0 } <= 8)
    }

    @Test func closingLetsHelpersFinishWhatIsSharedThenStops() {
        let sharing = CallSharing()
        let calls = Calls(5)
        sharing.handOver(calls.pointers[...])
        sharing.close()
        var batch: [UnsafeMutablePointer<warden_call>] = []
        #expect(sharing.waitAndTake(upTo: 3, into: &batch))
        #expect(batch.map { $0.pointee.method_index } == [0, 1, 2])
        batch.removeAll()
        #expect(sharing.waitAndTake(upTo: 3, into: &batch))
        #expect(batch.map { $0.pointee.method_index } == [3, 4])
        batch.removeAll()
        #expect(!sharing.waitAndTake(upTo: 3, into: &batch))
        #expect(batch.isEmpty)
    }
}
