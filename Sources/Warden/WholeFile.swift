import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Small files written whole: the spool's instance id, signing keys.
///
/// Written to a temporary name beside the file, created with the final permissions (a key
/// is never readable by others, even for a moment), flushed, then renamed over the path,
/// and the directory flushed.
/// Foundation's `createFile(atPath:contents:)` does the same on Linux but leaves an empty
/// `TemporaryDirectory.*` in /tmp behind each time.
public enum WholeFile {
    public struct WriteError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    public static func write(_ bytes: [UInt8], to path: String, mode: UInt32) throws(WriteError) {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw failure("cannot create \(temporary)") }
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let error = failure("cannot write \(temporary)")
                close(fd)
                unlink(temporary)
                throw error
            }
            written += n
        }
        if fsync(fd) != 0 {
            let error = failure("cannot flush \(temporary)")
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        if rename(temporary, path) != 0 {
            let error = failure("cannot rename \(temporary) to \(path)")
            unlink(temporary)
            throw error
        }
        // The rename itself survives a crash once the directory is flushed too.
        let parent = (path as NSString).deletingLastPathComponent
        let directory = open(parent.isEmpty ? "." : parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
    }

    static func failure(_ what: String) -> WriteError {
        WriteError(description: "\(what): \(String(cString: strerror(errno)))")
    }
}
