import Foundation
public import Store
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The write-ahead spool of decision records: append-only segment files of JSON lines in
/// one directory. The Check path appends each record with one `write(2)` before Envoy gets
/// its answer, so a record survives the process being killed (`kill -9`) the moment the
/// answer is sent; the shipper reads behind it and ships to PostgreSQL. Nothing here
/// waits on the database.
public final class DecisionSpool: Sendable {
    public typealias Position = PostgresAuditLog.SpoolPosition

    let directory: String
    let maxBytes: Int
    let segmentBytes: Int64
    /// Names this spool (and the Warden writing it) in the database's progress table.
    public let instance: String

    struct Writer {
        var fd: Int32
        var segment: Int64
        var offset: Int64
    }

    private let writer: Mutex<Writer>
    /// Held (flock) for the spool's lifetime.
    private let lockFD: Int32
    /// Bytes appended and not yet shipped.
    private let backlog = Atomic<Int>(0)

    public struct SpoolError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(directory: String, maxBytes: Int, segmentBytes: Int64 = 64 << 20) throws(SpoolError) {
        self.directory = directory
        self.maxBytes = maxBytes
        self.segmentBytes = segmentBytes
        do {
            // Records hold (masked) request data: readable by Warden's user only.
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw SpoolError(description: "\(directory): cannot create the decision spool directory: \(error.localizedDescription)")
        }
        // One Warden per spool: a second one would interleave segments and ship twice.
        let lock = open(directory + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw SpoolError(description: "\(directory)/lock: cannot open: \(String(cString: strerror(errno)))") }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            close(lock)
            throw SpoolError(description: "\(directory): the decision spool is in use by another Warden; give each Warden its own audit.spool_dir")
        }
        lockFD = lock
        let instancePath = directory + "/instance"
        if let data = FileManager.default.contents(atPath: instancePath), !data.isEmpty {
            instance = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            instance = DecisionID.next(nowMs: DecisionPipeline.wallClockMs())
            do { try WholeFile.write(Array((instance + "\n").utf8), to: instancePath, mode: 0o600) } catch {
                throw SpoolError(description: error.description)
            }
        }
        let segments = DecisionSpool.segments(in: directory)
        var segment = segments.last ?? 1
        // A segment that does not end in a newline was cut short mid-write: start a new one
        // rather than glue a record onto the fragment (the reader skips the fragment).
        if let size = DecisionSpool.size(of: DecisionSpool.path(directory, segment)), size > 0,
           !DecisionSpool.endsWithNewline(DecisionSpool.path(directory, segment), size: size) {
            segment += 1
        }
        let fd = open(DecisionSpool.path(directory, segment), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            close(lock)
            throw SpoolError(description: "\(DecisionSpool.path(directory, segment)): cannot open: \(String(cString: strerror(errno)))")
        }
        let offset = Int64(lseek(fd, 0, SEEK_END))
        writer = Mutex(Writer(fd: fd, segment: segment, offset: offset))
        let total = DecisionSpool.segments(in: directory).reduce(0) { $0 + Int(DecisionSpool.size(of: DecisionSpool.path(directory, $1)) ?? 0) }
        backlog.store(total, ordering: .relaxed)
    }

    deinit {
        _ = writer.withLock { close($0.fd) }
        close(lockFD)
    }

    /// Unshipped bytes.
    public var backlogBytes: Int { backlog.load(ordering: .relaxed) }

    /// Appends one record (a JSON line without its newline). False when the spool is at its
    /// bound or the write failed: the caller then applies `audit.on_spool_full`.
    public func append(_ record: String) -> Bool {
        var record = record
        return record.withUTF8 { append(bytes: $0) }
    }

    /// The same for a record's UTF-8 bytes (the Check path writes its line as bytes).
    public func append(bytes record: UnsafeBufferPointer<UInt8>) -> Bool {
        if backlog.load(ordering: .relaxed) >= maxBytes { return false }
        let count = record.count + 1
        let ok = writer.withLock { w -> Bool in
            if w.offset > 0 && w.offset + Int64(count) > segmentBytes { rotate(&w) }
            // The record and its newline in one writev(2): one append, no copy of the record.
            var newline = UInt8(ascii: "\n")
            let written = withUnsafeMutablePointer(to: &newline) { nl -> Int in
                withUnsafeTemporaryAllocation(of: iovec.self, capacity: 2) { parts -> Int in
                    parts[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: record.baseAddress), iov_len: record.count)
                    parts[1] = iovec(iov_base: UnsafeMutableRawPointer(nl), iov_len: 1)
                    return writev(w.fd, parts.baseAddress, 2)
                }
            }
            guard written == count else {
                // A short write leaves a fragment; the next record starts a new segment.
                if written > 0 { rotate(&w) }
                return false
            }
            w.offset += Int64(count)
            return true
        }
        if ok { backlog.add(count, ordering: .relaxed) }
        return ok
    }

    func rotate(_ w: inout Writer) {
        let next = w.segment + 1
        let fd = open(DecisionSpool.path(directory, next), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }  // keep the old segment; the next write tries again
        close(w.fd)
        w = Writer(fd: fd, segment: next, offset: 0)
    }

    /// Where the writer is now.
    public var writePosition: Position { writer.withLock { Position(segment: $0.segment, offset: $0.offset) } }

    // MARK: - Reading (the shipper)

    public struct Batch {
        /// Each record's bytes, without its newline (slices of one buffer).
        public let lines: [ArraySlice<UInt8>]
        /// The position after the last record read.
        public let end: Position
        public let bytes: Int

        static func empty(at position: Position) -> Batch { Batch(lines: [], end: position, bytes: 0) }

        public var records: [String] { lines.map { String(decoding: $0, as: UTF8.self) } }
    }

    /// Up to `maxRecords` complete records from `position` on; moves to the next segment
    /// when this one is finished and the writer has gone past it.
    public func read(from position: Position, maxRecords: Int, maxBytes: Int = 4 << 20) -> Batch {
        var pos = position
        let writeSegment = writer.withLock { $0.segment }
        while true {
            let path = DecisionSpool.path(directory, pos.segment)
            let size = DecisionSpool.size(of: path) ?? 0
            if pos.offset >= size {
                if pos.segment < writeSegment {
                    pos = Position(segment: pos.segment + 1, offset: 0)
                    continue
                }
                return .empty(at: pos)
            }
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return .empty(at: pos) }
            defer { close(fd) }
            // Read `maxBytes`, or more when a single record is longer than that.
            var want = Int(min(Int64(maxBytes), size - pos.offset))
            var buffer: [UInt8] = []
            var got = 0
            while true {
                buffer = [UInt8](repeating: 0, count: want)
                got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(pos.offset)) }
                guard got > 0 else { return .empty(at: pos) }
                if Int64(got) >= size - pos.offset || buffer.withUnsafeBytes({ memchr($0.baseAddress!, 0x0A, got) != nil }) { break }
                want = Int(min(Int64(want) * 2, size - pos.offset))
            }
            var lines: [ArraySlice<UInt8>] = []
            var consumed = 0
            buffer.withUnsafeBytes { b in
                var start = 0
                while lines.count < maxRecords, start < got,
                      let nl = memchr(b.baseAddress! + start, 0x0A, got - start) {
                    let end = b.baseAddress!.distance(to: UnsafeRawPointer(nl))
                    if end > start { lines.append(buffer[start..<end]) }
                    start = end + 1
                    consumed = start
                }
            }
            if consumed == 0 && pos.segment < writeSegment && Int64(got) == size - pos.offset {
                // A fragment with no newline at the end of a finished segment: a write cut
                // short. Skip it.
                pos = Position(segment: pos.segment + 1, offset: 0)
                continue
            }
            return Batch(lines: lines, end: Position(segment: pos.segment, offset: pos.offset + Int64(consumed)), bytes: consumed)
        }
    }

    /// After shipping: account for the bytes and delete segments wholly behind `position`.
    public func shipped(bytes: Int, upTo position: Position) {
        backlog.subtract(bytes, ordering: .relaxed)
        for s in DecisionSpool.segments(in: directory) where s < position.segment {
            unlink(DecisionSpool.path(directory, s))
        }
    }

    /// Once the shipper knows where it is: the backlog is what lies after `position`.
    public func resetBacklog(from position: Position) {
        var total = 0
        for s in DecisionSpool.segments(in: directory) {
            let size = Int(DecisionSpool.size(of: DecisionSpool.path(directory, s)) ?? 0)
            if s > position.segment { total += size } else if s == position.segment { total += max(0, size - Int(position.offset)) }
        }
        backlog.store(total, ordering: .relaxed)
    }

    /// The oldest segment on disk: where a spool with no recorded progress starts.
    public var firstPosition: Position { Position(segment: DecisionSpool.segments(in: directory).first ?? 1, offset: 0) }

    // MARK: - Files

    static func path(_ dir: String, _ segment: Int64) -> String {
        let digits = String(segment)
        return dir + "/" + String(repeating: "0", count: max(0, 12 - digits.count)) + digits + ".jsonl"
    }

    static func segments(in dir: String) -> [Int64] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { $0.hasSuffix(".jsonl") }.compactMap { Int64($0.dropLast(6)) }.sorted()
    }

    static func size(of path: String) -> Int64? {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : nil
    }

    static func endsWithNewline(_ path: String, size: Int64) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return true }
        defer { close(fd) }
        var byte: UInt8 = 0
        return pread(fd, &byte, 1, off_t(size - 1)) == 1 && byte == 0x0A
    }
}
