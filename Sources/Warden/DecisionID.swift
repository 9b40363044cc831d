import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Decision ids are UUIDv7: time-ordered (they index well in PostgreSQL and sort in logs),
/// unique across processes through 74 random bits.
enum DecisionID {
    private static let shared = Mutex(Generator())

    static func next(nowMs: UInt64) -> String {
        let (ms, seq, rand) = shared.withLock { $0.draw(nowMs: nowMs) }
        return format(ms: ms, seq: seq, rand: rand)
    }

    /// The time, counter and random bits of successive ids: the time never goes back, and
    /// ids made within one millisecond count up from a random start. The random bits come
    /// from the kernel in blocks (`RandomPool`), not one `getrandom(2)` per Check.
    struct Generator {
        var lastMs: UInt64 = 0
        var counter: UInt16 = 0
        var pool = RandomPool()

        mutating func draw(nowMs: UInt64) -> (ms: UInt64, seq: UInt16, rand: UInt64) {
            if nowMs > lastMs {
                lastMs = nowMs
                counter = UInt16(truncatingIfNeeded: pool.next()) & 0x07FF
            } else {
                counter &+= 1
            }
            return (lastMs, counter, pool.next())
        }

        /// The next id of this generator (a test owns one; the Check path shares `next`'s).
        mutating func next(nowMs: UInt64) -> String {
            let (ms, seq, rand) = draw(nowMs: nowMs)
            return DecisionID.format(ms: ms, seq: seq, rand: rand)
        }
    }

    static func format(ms: UInt64, seq: UInt16, rand: UInt64) -> String {
        var bytes: (UInt64, UInt64) = (0, 0)
        return withUnsafeMutableBytes(of: &bytes) { b in
            for i in 0..<6 { b[i] = UInt8(truncatingIfNeeded: ms >> (40 - 8 * UInt64(i))) }
            b[6] = 0x70 | UInt8(truncatingIfNeeded: (seq >> 8) & 0x0F)
            b[7] = UInt8(truncatingIfNeeded: seq)
            for i in 8..<16 { b[i] = UInt8(truncatingIfNeeded: rand >> (8 * UInt64(i - 8))) }
            b[8] = 0x80 | (b[8] & 0x3F)
            return String(unsafeUninitializedCapacity: 36) { out in
                let hex: StaticString = "0123456789abcdef"
                var at = 0
                for i in 0..<16 {
                    if i == 4 || i == 6 || i == 8 || i == 10 {
                        out[at] = UInt8(ascii: "-")
                        at += 1
                    }
                    out[at] = hex.utf8Start[Int(b[i] >> 4)]
                    out[at + 1] = hex.utf8Start[Int(b[i] & 15)]
                    at += 2
                }
                return at
            }
        }
    }

    /// Random words drawn from the kernel a block at a time.
    struct RandomPool {
        static let words = 32
        private var block = [UInt64](repeating: 0, count: RandomPool.words)
        private var used = RandomPool.words

        mutating func next() -> UInt64 {
            if used == RandomPool.words { refill() }
            defer { used += 1 }
            return block[used]
        }

        private mutating func refill() {
            // arc4random_buf(3): the kernel's getrandom(2) for the whole block.
            block.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
            used = 0
        }
    }
}
