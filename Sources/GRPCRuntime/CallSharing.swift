internal import CGRPCCore

#if canImport(Glibc)
import Glibc
#endif

/// Calls handed from the completion-queue threads to helper threads. A queue thread
/// answers a call as soon as it takes it, so a lone request never waits for a thread to
/// wake; the calls that arrived meanwhile (a burst, or load) it hands over here, all but
/// one, where the next free helper takes them. A helper runs the handler and hands the
/// prepared response back to the queue thread, which sends it.
final class CallSharing: @unchecked Sendable {
    // @unchecked: every field is read and written with `mutex` held.
    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    private var calls: [UnsafeMutablePointer<warden_call>] = []
    private var next = 0
    private var sleeping = 0
    private var closed = false

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
        calls.reserveCapacity(256)
    }

    deinit {
        pthread_cond_destroy(&wake)
        pthread_mutex_destroy(&mutex)
    }

    /// Adds calls, waking as many sleeping helpers as there are calls.
    func handOver(_ more: ArraySlice<UnsafeMutablePointer<warden_call>>) {
        pthread_mutex_lock(&mutex)
        calls.append(contentsOf: more)
        let wakeable = min(sleeping, more.count)
        pthread_mutex_unlock(&mutex)
        for _ in 0..<wakeable { pthread_cond_signal(&wake) }
    }

    /// Up to `limit` calls into `out`, waiting for at least one; false once closed and empty.
    func waitAndTake(upTo limit: Int, into out: inout [UnsafeMutablePointer<warden_call>]) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while true {
            while out.count < limit, let call = takeLocked() { out.append(call) }
            if !out.isEmpty { return true }
            if closed { return false }
            sleeping += 1
            pthread_cond_wait(&wake, &mutex)
            sleeping -= 1
        }
    }

    /// Helpers finish what is shared, then stop.
    func close() {
        pthread_mutex_lock(&mutex)
        closed = true
        pthread_mutex_unlock(&mutex)
        pthread_cond_broadcast(&wake)
    }

    private func takeLocked() -> UnsafeMutablePointer<warden_call>? {
        guard next < calls.count else { return nil }
        let call = calls[next]
        next += 1
        if next == calls.count {
            calls.removeAll(keepingCapacity: true)
            next = 0
        } else if next >= CallSharing.compactAfter {
            // Under steady load the list may never run empty: drop what was taken, so
            // that it stays as long as the calls waiting, not as all calls ever shared.
            calls.removeFirst(next)
            next = 0
        }
        return call
    }

    private static let compactAfter = 256
}
