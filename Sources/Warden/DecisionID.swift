import Synchronization

/// Decision ids are UUIDv7: time-ordered (they index well in PostgreSQL and sort in logs),
/// unique across processes through 74 random bits.
enum DecisionID {
    private static let state = Mutex<(lastMs: UInt64, counter: UInt16, rng: SystemRandomNumberGenerator)>((0, 0, SystemRandomNumberGenerator()))

    static func next(nowMs: UInt64) -> String {
        let (ms, seq, rand) = state.withLock { s -> (UInt64, UInt16, UInt64) in
            if nowMs > s.lastMs {
                s.lastMs = nowMs
                s.counter = UInt16.random(in: 0..<0x0800, using: &s.rng)
            } else {
                s.counter &+= 1
            }
            return (s.lastMs, s.counter, UInt64.random(in: 0...UInt64.max, using: &s.rng))
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: ms >> (40 - 8 * UInt64(i))) }
        bytes[6] = 0x70 | UInt8(truncatingIfNeeded: (seq >> 8) & 0x0F)
        bytes[7] = UInt8(truncatingIfNeeded: seq)
        for i in 8..<16 { bytes[i] = UInt8(truncatingIfNeeded: rand >> (8 * UInt64(i - 8))) }
        bytes[8] = 0x80 | (bytes[8] & 0x3F)
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (i, b) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
