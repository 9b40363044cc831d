import CZlib
import Foundation

/// Reads the regular files of a `.tar.gz` (ustar, as `tar czf` and OPA's bundle builder
/// write them). Bounded, since bundles can come from outside.
enum TarGz {
    struct File {
        let name: String
        let contents: [UInt8]
    }

    static let maxUncompressed = 512 * 1024 * 1024

    static func extract(path: String) throws -> [File] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PolicyLoader.LoadError(path: path, message: "cannot read file")
        }
        let tar = try gunzip([UInt8](data), path: path)
        return try untar(tar, path: path)
    }

    static func gunzip(_ input: [UInt8], path: String) throws -> [UInt8] {
        var stream = z_stream()
        guard czlib_inflate_init_gzip(&stream) == Z_OK else {
            throw PolicyLoader.LoadError(path: path, message: "cannot initialise gzip decoder")
        }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var input = input
        let status: Int32 = input.withUnsafeMutableBufferPointer { inBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = uInt(inBuf.count)
            var ret: Int32 = Z_OK
            while ret == Z_OK {
                ret = chunk.withUnsafeMutableBufferPointer { outBuf in
                    stream.next_out = outBuf.baseAddress
                    stream.avail_out = uInt(outBuf.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                out.append(contentsOf: chunk[0..<produced])
                if out.count > maxUncompressed { return Z_MEM_ERROR }
                if ret == Z_BUF_ERROR && stream.avail_in == 0 { break }
            }
            return ret
        }
        guard status == Z_STREAM_END else {
            throw PolicyLoader.LoadError(path: path, message: status == Z_MEM_ERROR ? "bundle larger than \(maxUncompressed) bytes uncompressed" : "not a valid gzip file (zlib status \(status))")
        }
        return out
    }

    static func untar(_ tar: [UInt8], path: String) throws -> [File] {
        var files: [File] = []
        var offset = 0
        var longName: String?
        while offset + 512 <= tar.count {
            let header = tar[offset..<offset + 512]
            if header.allSatisfy({ $0 == 0 }) { break }
            func field(_ start: Int, _ len: Int) -> String {
                let bytes = tar[offset + start..<offset + start + len]
                let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
                return String(decoding: bytes[bytes.startIndex..<end], as: UTF8.self)
            }
            var name = field(0, 100)
            let prefix = field(345, 155)
            if !prefix.isEmpty && field(257, 5) == "ustar" { name = prefix + "/" + name }
            let sizeText = field(124, 12).trimmingCharacters(in: .whitespaces)
            guard let size = Int(sizeText.isEmpty ? "0" : sizeText, radix: 8) else {
                throw PolicyLoader.LoadError(path: path, message: "corrupt tar header at offset \(offset)")
            }
            let type = tar[offset + 156]
            let dataStart = offset + 512
            guard dataStart + size <= tar.count else {
                throw PolicyLoader.LoadError(path: path, message: "truncated tar entry \(name)")
            }
            let contents = Array(tar[dataStart..<dataStart + size])
            if type == UInt8(ascii: "L") {
                longName = String(decoding: contents.prefix { $0 != 0 }, as: UTF8.self)
            } else {
                if let ln = longName { name = ln; longName = nil }
                if type == UInt8(ascii: "0") || type == 0 {
                    if name.hasPrefix("./") { name.removeFirst(2) }
                    if name.split(separator: "/").contains("..") {
                        throw PolicyLoader.LoadError(path: path, message: "tar entry \(name) escapes the bundle")
                    }
                    files.append(File(name: name, contents: contents))
                }
            }
            offset = dataStart + (size + 511) / 512 * 512
        }
        return files
    }
}
