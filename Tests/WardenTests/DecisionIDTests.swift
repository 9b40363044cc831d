import Foundation
import Testing
@testable import Warden

/// Decision ids are UUIDv7 (RFC 9562): the time in their first 48 bits, version 7, variant
/// 10, and random bits drawn from a pool that is refilled many times over here.
struct DecisionIDTests {
    @Test func idsAreUniqueTimeOrderedUUIDv7() throws {
        let nowMs: UInt64 = 1_795_384_639_742
        var generator = DecisionID.Generator()
        var seen = Set<String>()
        var previous = ""
        for i in 0..<5_000 {
            let id = generator.next(nowMs: nowMs + UInt64(i / 100))
            let bytes = Array(id.utf8)
            #expect(bytes.count == 36)
            #expect([8, 13, 18, 23].allSatisfy { bytes[$0] == UInt8(ascii: "-") })
            #expect(bytes[14] == UInt8(ascii: "7"), "version 7: \(id)")
            #expect("89ab".utf8.contains(bytes[19]), "variant 10: \(id)")
            let hex = id.replacingOccurrences(of: "-", with: "")
            #expect(UInt64(hex.prefix(12), radix: 16) == nowMs + UInt64(i / 100))
            #expect(id > previous, "ids of one process sort in the order they were made")
            previous = id
            seen.insert(id)
        }
        #expect(seen.count == 5_000)
    }
}
