public import Rego
import RegoYAML
import Foundation

/// Loads policies and data the way `opa eval -d` and OPA bundles do: `.rego` files become
/// modules; `.json`/`.yaml` files are merged into `data` at the path of their directory
/// (relative to the root named on the command line).
public struct PolicyLoader {
    public struct LoadError: Error, CustomStringConvertible {
        public let path: String
        public let message: String
        public var description: String { "\(path): \(message)" }
    }

    public private(set) var sources: [Source] = []
    public private(set) var data: Value = .emptyObject
    /// Bundle manifests seen (their roots and revisions).
    public private(set) var manifests: [BundleManifest] = []

    public init() {}

    /// Adds a file or directory given with `-d`.
    public mutating func add(path: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw LoadError(path: path, message: "no such file or directory")
        }
        if isDir.boolValue {
            try addDirectory(root: path, prefix: [])
        } else {
            try addFile(path, dataPath: [])
        }
    }

    /// Adds a bundle directory or `.tar.gz` given with `-b`.
    public mutating func add(bundle path: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw LoadError(path: path, message: "no such file or directory")
        }
        if isDir.boolValue {
            let manifestPath = (path as NSString).appendingPathComponent(".manifest")
            if FileManager.default.fileExists(atPath: manifestPath) {
                manifests.append(try BundleManifest.load(manifestPath))
            }
            try addDirectory(root: path, prefix: [], bundleMode: true)
        } else {
            let files = try TarGz.extract(path: path)
            var bundleData = Value.emptyObject
            for f in files.sorted(by: { $0.name < $1.name }) {
                let name = f.name.hasPrefix("/") ? String(f.name.dropFirst()) : f.name
                let parts = name.split(separator: "/").map(String.init)
                guard let base = parts.last else { continue }
                let dir = Array(parts.dropLast())
                let display = path + "/" + name
                if base == ".manifest" {
                    manifests.append(try BundleManifest.parse(String(decoding: f.contents, as: UTF8.self), path: display))
                } else if base.hasSuffix(".rego") {
                    sources.append(Source(name: display, text: String(decoding: f.contents, as: UTF8.self)))
                } else if base == "data.json" || base == "data.yaml" || base == "data.yml" {
                    let v = try parseData(String(decoding: f.contents, as: UTF8.self), yaml: !base.hasSuffix(".json"), path: display)
                    bundleData = try merge(bundleData, at: dir[...], v, path: display)
                }
            }
            data = try merge(data, at: [], bundleData, path: path)
        }
    }

    mutating func addDirectory(root: String, prefix: [String], bundleMode: Bool = false) throws {
        let fm = FileManager.default
        let entries = try fm.contentsOfDirectory(atPath: root).sorted()
        for name in entries {
            if name.hasPrefix(".") { continue }
            let full = (root as NSString).appendingPathComponent(name)
            // Anything that is not a directory, a dangling link included, is read as a file
            // (and a file that cannot be read stops the load with its name).
            var isDir: ObjCBool = false
            _ = fm.fileExists(atPath: full, isDirectory: &isDir)
            if isDir.boolValue {
                try addDirectory(root: full, prefix: prefix + [name], bundleMode: bundleMode)
            } else if !bundleMode || name.hasSuffix(".rego") || name == "data.json" || name == "data.yaml" || name == "data.yml" {
                try addFile(full, dataPath: prefix)
            }
        }
    }

    mutating func addFile(_ path: String, dataPath: [String]) throws {
        if path.hasSuffix(".rego") {
            sources.append(Source(name: path, text: try read(path)))
        } else if path.hasSuffix(".json") || path.hasSuffix(".yaml") || path.hasSuffix(".yml") {
            let v = try parseData(try read(path), yaml: !path.hasSuffix(".json"), path: path)
            data = try merge(data, at: dataPath[...], v, path: path)
        } else if path.hasSuffix(".tar.gz") {
            try add(bundle: path)
        }
    }

    func read(_ path: String) throws -> String {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw LoadError(path: path, message: "cannot read file")
        }
        return String(decoding: d, as: UTF8.self)
    }

    func parseData(_ text: String, yaml: Bool, path: String) throws -> Value {
        if yaml {
            do { return try RegoYAML.parse(text) } catch { throw LoadError(path: path, message: "invalid YAML: \(error)") }
        }
        do {
            return try Value.parseJSON(text)
        } catch {
            throw LoadError(path: path, message: "invalid JSON: \(error)")
        }
    }

    func merge(_ base: Value, at path: ArraySlice<String>, _ v: Value, path file: String) throws -> Value {
        guard let first = path.first else {
            return try deepMerge(base, v, file: file)
        }
        guard case .object(var o) = base else { throw LoadError(path: file, message: "data conflicts with a non-object document") }
        o[first] = try merge(o[first] ?? .emptyObject, at: path.dropFirst(), v, path: file)
        return .object(o)
    }

    func deepMerge(_ a: Value, _ b: Value, file: String) throws -> Value {
        guard case .object(var x) = a, case .object(let y) = b else {
            if case .object(let x) = a, x.isEmpty { return b }
            throw LoadError(path: file, message: "merge error: data conflicts with another data file")
        }
        for e in y.entries {
            if let existing = x[e.key] { x[e.key] = try deepMerge(existing, e.value, file: file) } else { x[e.key] = e.value }
        }
        return .object(x)
    }
}

/// A bundle's `.manifest`: its revision and the roots it owns.
public struct BundleManifest: Sendable {
    public let revision: String
    public let roots: [String]
    public let metadata: Value?

    static func load(_ path: String) throws -> BundleManifest {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw PolicyLoader.LoadError(path: path, message: "cannot read file")
        }
        return try parse(String(decoding: d, as: UTF8.self), path: path)
    }

    static func parse(_ text: String, path: String) throws -> BundleManifest {
        let v: Value
        do { v = try Value.parseJSON(text) } catch {
            throw PolicyLoader.LoadError(path: path, message: "invalid manifest JSON: \(error)")
        }
        guard case .object(let o) = v else { throw PolicyLoader.LoadError(path: path, message: "manifest must be a JSON object") }
        var revision = ""
        if let r = o["revision"] {
            guard case .string(let s) = r else { throw PolicyLoader.LoadError(path: path, message: "manifest field \"revision\" must be a string") }
            revision = s
        }
        var roots: [String] = [""]
        if let r = o["roots"] {
            guard case .array(let a) = r else { throw PolicyLoader.LoadError(path: path, message: "manifest field \"roots\" must be an array of strings") }
            roots = try a.map { x in
                guard case .string(let s) = x else { throw PolicyLoader.LoadError(path: path, message: "manifest field \"roots\" must be an array of strings") }
                return s
            }
        }
        return BundleManifest(revision: revision, roots: roots, metadata: o["metadata"])
    }
}
