import Foundation
import Testing
@testable import Warden

/// The write-ahead spool on a temporary directory: records come back in order, across
/// segments, longer than a read, and a fragment left by a cut-short write is skipped.
struct DecisionSpoolTests {
    static func directory() -> String {
        let dir = NSTemporaryDirectory() + "spool-test-" + UUID().uuidString
        return dir
    }

    @Test func recordsComeBackInOrderAcrossSegments() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spool = try DecisionSpool(directory: dir, maxBytes: 1 << 30, segmentBytes: 64)
        let lines = (0..<20).map { "record-\($0)-" + String(repeating: "x", count: 10) }
        for l in lines { #expect(spool.append(l)) }
        #expect(DecisionSpool.segments(in: dir).count > 1)
        var position = spool.firstPosition
        var read: [String] = []
        while true {
            let batch = spool.read(from: position, maxRecords: 3)
            if batch.records.isEmpty && batch.end == position { break }
            read += batch.records
            spool.shipped(bytes: batch.bytes, upTo: batch.end)
            position = batch.end
        }
        #expect(read == lines)
        #expect(spool.backlogBytes == 0)
        #expect(DecisionSpool.segments(in: dir).count == 1)  // shipped segments are deleted
    }

    @Test func aRecordLongerThanOneReadIsStillRead() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spool = try DecisionSpool(directory: dir, maxBytes: 1 << 30)
        let long = String(repeating: "y", count: 10_000)
        #expect(spool.append(long))
        let batch = spool.read(from: spool.firstPosition, maxRecords: 10, maxBytes: 1000)
        #expect(batch.records == [long])
    }

    @Test func aFragmentFromACutShortWriteIsSkippedAfterARestart() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let spool = try DecisionSpool(directory: dir, maxBytes: 1 << 30)
            #expect(spool.append("first"))
        }
        // A write cut short: no newline at the end.
        let handle = try #require(FileHandle(forWritingAtPath: DecisionSpool.path(dir, 1)))
        handle.seekToEndOfFile()
        handle.write(Data("half a rec".utf8))
        try handle.close()
        let spool = try DecisionSpool(directory: dir, maxBytes: 1 << 30)
        #expect(spool.append("second"))
        var position = spool.firstPosition
        var read: [String] = []
        for _ in 0..<5 {
            let batch = spool.read(from: position, maxRecords: 10)
            read += batch.records
            position = batch.end
        }
        #expect(read == ["first", "second"])
    }

    @Test func theBoundRefusesAppends() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spool = try DecisionSpool(directory: dir, maxBytes: 100)
        #expect(spool.append(String(repeating: "z", count: 150)))
        #expect(!spool.append("one too many"))
    }

    @Test func oneWardenPerSpool() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try DecisionSpool(directory: dir, maxBytes: 1 << 20)
        #expect(throws: DecisionSpool.SpoolError.self) { try DecisionSpool(directory: dir, maxBytes: 1 << 20) }
        _ = first
    }
}

struct ShadowRuleAndMaskTests {
    @Test func globs() {
        #expect(DecisionPipeline.glob("connector.*", "connector.github"))
        #expect(DecisionPipeline.glob("*", "anything"))
        #expect(DecisionPipeline.glob("a*c*e", "abcde"))
        #expect(!DecisionPipeline.glob("connector.*", "core.methods"))
        #expect(!DecisionPipeline.glob("connector", "connector.github"))
    }

    @Test func pointers() {
        #expect(DecisionPipeline.pointer("/input/attributes/request/http/headers/x-key") == ["attributes", "request", "http", "headers", "x-key"])
        #expect(DecisionPipeline.pointer("/input/a~1b/c~0d") == ["a/b", "c~d"])
        #expect(DecisionPipeline.pointer("/result/x") == nil)
        #expect(DecisionPipeline.pointer("input/x") == nil)
    }

    @Test func traceIDs() {
        #expect(DecisionPipeline.traceID("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(DecisionPipeline.traceID("garbage") == nil)
    }
}

struct WholeFileTests {
    @Test func writesWholeWithItsModeAndLeavesNothingBeside() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wholefile-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/key.pem"
        try WholeFile.write(Array("first\n".utf8), to: path, mode: 0o600)
        try WholeFile.write(Array("second\n".utf8), to: path, mode: 0o600)
        #expect(FileManager.default.contents(atPath: path) == Data("second\n".utf8))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["key.pem"])
    }

    @Test func aMissingDirectoryIsAClearError() {
        #expect {
            try WholeFile.write([1], to: "/nonexistent-dir-\(getpid())/x", mode: 0o600)
        } throws: { error in
            (error as? WholeFile.WriteError)?.description.contains("cannot create /nonexistent-dir-") == true
        }
    }
}
