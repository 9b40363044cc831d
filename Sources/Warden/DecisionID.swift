import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Decision ids are UUIDv7: time-ordered (they index well in PostgreSQL and sort in logs),
/// unique across processes through 74 random bits.
enum DecisionID {
    /// The random bits come from the kernel in blocks of `RandomPool.words` words, one
    /// `getrandom(2)` per block rather than one per Check.
    private static let state = Mutex<(lastMs: UInt64, counter: UInt16, pool: RandomPool)>((0, 0, RandomPool()))

    static func next(nowMs: UInt64) -> String {
        let (ms, seq, rand) = state.withLock { s -> (UInt64, UInt16, UInt64) in
            if nowMs > s.lastMs {
                s.lastMs = nowMs
                s.counter = UInt16(truncatingIfNeeded: s.pool.next()) & 0x07FF
            } else {
                s.counter &+= 1
            }
            return (s.lastMs, s.counter, s.pool.next())
        }
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
