/// Objects and JSON documents: object.*, json.filter, json.remove, json.patch.
extension BuiltinFamilies {
    static var objects: [Builtin] {
        [
            Builtin("object.get", arity: 3) { a, _ in
                let obj = try a.object(0)
                if case .array(let path) = a[1] {
                    var cur: Value = .object(obj)
                    for p in path {
                        guard let next = cur[p], isCollection(cur) else { return a[2] }
                        cur = next
                    }
                    return cur
                }
                return obj[a[1]] ?? a[2]
            },
            Builtin("object.keys", arity: 1) { a, _ in .set(RegoSet(try a.object(0).keys)) },
            Builtin("object.remove", arity: 2) { a, _ in
                var obj = try a.object(0)
                for k in try keysOperand(a[1], 2, "object.remove").elements { obj[k] = nil }
                return .object(obj)
            },
            Builtin("object.filter", arity: 2) { a, _ in
                let obj = try a.object(0)
                let keep = try keysOperand(a[1], 2, "object.filter")
                return .object(RegoObject(obj.entries.filter { e in keep.contains(e.key) }.map { ($0.key, $0.value) }))
            },
            Builtin("object.union", arity: 2) { a, _ in .object(unionObjects(try a.object(0), try a.object(1))) },
            Builtin("object.union_n", arity: 1) { a, _ in
                var acc = RegoObject()
                for v in try a.array(0) {
                    guard case .object(let o) = v else { throw BuiltinError.operand(1, "array of objects", a[0]) }
                    acc = unionObjects(acc, o)
                }
                return .object(acc)
            },
            Builtin("object.subset", arity: 2) { a, _ in
                switch (a[0], a[1]) {
                case (.object, .object), (.set, .set), (.array, .array), (.array, .set):
                    return .bool(isSubset(sup: a[0], sub: a[1]))
                case (.object, _), (.set, _), (.array, _):
                    throw BuiltinError.operand(2, "one of {object, set, array}", a[1])
                default:
                    throw BuiltinError.operand(1, "one of {object, set, array}", a[0])
                }
            },
            Builtin("json.filter", arity: 2) { a, _ in
                let obj = try a.object(0)
                let paths = try jsonPaths(a[1], 2)
                return filterPaths(.object(obj), paths) ?? .emptyObject
            },
            Builtin("json.remove", arity: 2) { a, _ in
                let obj = try a.object(0)
                let paths = try jsonPaths(a[1], 2, builtin: "json.remove")
                var v: Value = .object(obj)
                for p in paths { v = removePath(v, p[...]) }
                return v
            },
            Builtin("json.patch", arity: 2) { a, _ in
                var doc = a[0]
                for op in try a.array(1) {
                    guard let patched = try applyPatch(doc, op) else { return nil }
                    doc = patched
                }
                return doc
            },
        ]
    }

    static func isCollection(_ v: Value) -> Bool {
        switch v {
        case .array, .object, .set: return true
        default: return false
        }
    }

    static func keysOperand(_ v: Value, _ i: Int, _ name: String) throws(BuiltinError) -> RegoSet {
        switch v {
        case .array(let a): return RegoSet(a)
        case .set(let s): return s
        case .object(let o): return RegoSet(o.keys)
        default: throw BuiltinError.type("operand \(i) must be one of {object, set, array} but got \(v.typeName)")
        }
    }

    static func unionObjects(_ a: RegoObject, _ b: RegoObject) -> RegoObject {
        var out = a
        for e in b.entries {
            if case .object(let x)? = out[e.key], case .object(let y) = e.value {
                out[e.key] = .object(unionObjects(x, y))
            } else {
                out[e.key] = e.value
            }
        }
        return out
    }

    static func isSubset(sup: Value, sub: Value) -> Bool {
        switch (sup, sub) {
        case (.object(let x), .object(let y)):
            for e in y.entries {
                guard let v = x[e.key] else { return false }
                switch (v, e.value) {
                case (.object, .object), (.set, .set), (.array, .array), (.array, .set):
                    if !isSubset(sup: v, sub: e.value) { return false }
                default:
                    if v != e.value { return false }
                }
            }
            return true
        case (.set(let x), .set(let y)):
            return y.elements.allSatisfy { x.contains($0) }
        case (.array(let x), .set(let y)):
            return y.elements.allSatisfy { x.contains($0) }
        case (.array(let x), .array(let y)):
            if y.isEmpty { return true }
            if y.count > x.count { return false }
            for start in 0...(x.count - y.count) where Array(x[start..<start + y.count]) == y { return true }
            return false
        default:
            return sup == sub
        }
    }

    /// JSON paths as `json.filter`/`json.remove` take them: "a/b/c" strings or arrays.
    static func jsonPaths(_ v: Value, _ i: Int, builtin: String = "json.filter") throws(BuiltinError) -> [[Value]] {
        let items: [Value]
        switch v {
        case .array(let a): items = a
        case .set(let s): items = s.elements
        default: throw BuiltinError.type("operand \(i) must be one of {set, array} but got \(v.typeName)")
        }
        var out: [[Value]] = []
        for item in items {
            switch item {
            case .string(let s):
                let trimmed = s.hasPrefix("/") ? String(s.dropFirst()) : s
                out.append(trimmed.split(separator: "/", omittingEmptySubsequences: false).map { .string(unescapePointer(String($0))) })
            case .array(let parts):
                out.append(parts)
            default:
                throw BuiltinError.type("operand \(i) must be one of {set, array} containing string paths or array of path segments but got \(item.typeName)")
            }
        }
        return out
    }

    static func unescapePointer(_ s: String) -> String {
        s.replacingOccurrences("~1", "/").replacingOccurrences("~0", "~")
    }

    static func filterPaths(_ v: Value, _ paths: [[Value]]) -> Value? {
        if paths.contains(where: { $0.isEmpty }) { return v }
        switch v {
        case .object(let o):
            var out = RegoObject()
            for e in o.entries {
                let sub = paths.filter { $0.first.map { pathKeyMatches($0, e.key) } ?? false }.map { Array($0.dropFirst()) }
                if sub.isEmpty { continue }
                if let fv = filterPaths(e.value, sub) { out[e.key] = fv }
            }
            return .object(out)
        case .array(let a):
            var out: [Value] = []
            for (i, el) in a.enumerated() {
                let sub = paths.filter { $0.first.map { pathKeyMatches($0, .int(i)) } ?? false }.map { Array($0.dropFirst()) }
                if sub.isEmpty { continue }
                if let fv = filterPaths(el, sub) { out.append(fv) }
            }
            return .array(out)
        case .set(let s):
            var out: [Value] = []
            for el in s.elements {
                let sub = paths.filter { $0.first.map { pathKeyMatches($0, el) } ?? false }.map { Array($0.dropFirst()) }
                if sub.isEmpty { continue }
                if let fv = filterPaths(el, sub) { out.append(fv) }
            }
            return .set(RegoSet(out))
        default:
            return nil
        }
    }

    static func pathKeyMatches(_ p: Value, _ key: Value) -> Bool {
        if p == key { return true }
        if case .string(let s) = p, case .number(let n) = key, let i = n.intValue { return s == String(i) }
        return false
    }

    static func removePath(_ v: Value, _ path: ArraySlice<Value>) -> Value {
        guard let first = path.first else { return v }
        switch v {
        case .object(var o):
            guard let key = o.keys.first(where: { pathKeyMatches(first, $0) }) else { return v }
            if path.count == 1 { o[key] = nil } else { o[key] = removePath(o[key]!, path.dropFirst()) }
            return .object(o)
        case .array(var a):
            guard let idx = a.indices.first(where: { pathKeyMatches(first, .int($0)) }) else { return v }
            if path.count == 1 { a.remove(at: idx) } else { a[idx] = removePath(a[idx], path.dropFirst()) }
            return .array(a)
        case .set(let s):
            var els = s.elements
            guard let idx = els.firstIndex(where: { pathKeyMatches(first, $0) }) else { return v }
            if path.count == 1 { els.remove(at: idx) } else { els[idx] = removePath(els[idx], path.dropFirst()) }
            return .set(RegoSet(els))
        default:
            return v
        }
    }

    // MARK: - JSON Patch (RFC 6902)

    static func applyPatch(_ doc: Value, _ op: Value) throws(BuiltinError) -> Value? {
        guard case .object(let o) = op, case .string(let kind)? = o["op"] else { return nil }
        guard let path = pointer(o["path"]) else { return nil }
        switch kind {
        case "add": guard let v = o["value"] else { return nil }; return patchAdd(doc, path[...], v)
        case "remove": return patchRemove(doc, path[...])
        case "replace":
            guard let v = o["value"], let removed = patchRemove(doc, path[...]) else { return nil }
            return patchAdd(removed, path[...], v)
        case "move":
            guard let from = pointer(o["from"]), let v = get(doc, from[...]), let removed = patchRemove(doc, from[...]) else { return nil }
            return patchAdd(removed, path[...], v)
        case "copy":
            guard let from = pointer(o["from"]), let v = get(doc, from[...]) else { return nil }
            return patchAdd(doc, path[...], v)
        case "test":
            guard let v = o["value"], let cur = get(doc, path[...]), cur == v else { return nil }
            return doc
        default: return nil
        }
    }

    static func pointer(_ v: Value?) -> [String]? {
        switch v {
        case .string(let s)?:
            if s.isEmpty { return [] }
            guard s.hasPrefix("/") else { return nil }
            return s.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map { unescapePointer(String($0)) }
        case .array(let a)?:
            return a.map { if case .string(let s) = $0 { return s }; return $0.jsonString() }
        default: return nil
        }
    }

    static func get(_ v: Value, _ path: ArraySlice<String>) -> Value? {
        guard let first = path.first else { return v }
        switch v {
        case .object(let o): return o[first].flatMap { get($0, path.dropFirst()) }
        case .array(let a): guard let i = Int(first), i >= 0, i < a.count else { return nil }; return get(a[i], path.dropFirst())
        case .set(let s): return s.elements.first { ($0.jsonString() == first) || $0 == .string(first) }.flatMap { get($0, path.dropFirst()) }
        default: return nil
        }
    }

    static func patchAdd(_ v: Value, _ path: ArraySlice<String>, _ value: Value) -> Value? {
        guard let first = path.first else { return value }
        switch v {
        case .object(var o):
            if path.count == 1 { o[first] = value; return .object(o) }
            guard let child = o[first], let nv = patchAdd(child, path.dropFirst(), value) else { return nil }
            o[first] = nv
            return .object(o)
        case .array(var a):
            if path.count == 1 {
                if first == "-" { a.append(value); return .array(a) }
                guard let i = Int(first), i >= 0, i <= a.count else { return nil }
                a.insert(value, at: i)
                return .array(a)
            }
            guard let i = Int(first), i >= 0, i < a.count, let nv = patchAdd(a[i], path.dropFirst(), value) else { return nil }
            a[i] = nv
            return .array(a)
        case .set(var s):
            if path.count == 1 { s.insert(value); return .set(s) }
            return nil
        default:
            return nil
        }
    }

    static func patchRemove(_ v: Value, _ path: ArraySlice<String>) -> Value? {
        guard let first = path.first else { return nil }
        switch v {
        case .object(var o):
            if path.count == 1 { guard o[first] != nil else { return nil }; o[first] = nil; return .object(o) }
            guard let child = o[first], let nv = patchRemove(child, path.dropFirst()) else { return nil }
            o[first] = nv
            return .object(o)
        case .array(var a):
            guard let i = Int(first), i >= 0, i < a.count else { return nil }
            if path.count == 1 { a.remove(at: i); return .array(a) }
            guard let nv = patchRemove(a[i], path.dropFirst()) else { return nil }
            a[i] = nv
            return .array(a)
        case .set(let s):
            var els = s.elements
            guard let i = els.firstIndex(where: { $0.jsonString() == first || $0 == .string(first) }) else { return nil }
            if path.count == 1 { els.remove(at: i); return .set(RegoSet(els)) }
            return nil
        default:
            return nil
        }
    }
}

extension String {
    /// Plain substring replacement without Foundation.
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        guard !target.isEmpty, contains(target) else { return self }
        var out = ""
        var rest = self[...]
        while let r = rest.range(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        out += rest
        return out
    }

    func contains(_ s: String) -> Bool { s.isEmpty || range(of: s) != nil }
}

extension StringProtocol {
    /// First occurrence of `target`, by Unicode scalars (no Foundation).
    func range(of target: String) -> Range<Index>? {
        let t = Array(target.unicodeScalars)
        guard !t.isEmpty else { return startIndex..<startIndex }
        let scalars = unicodeScalars
        var i = scalars.startIndex
        while i != scalars.endIndex {
            if scalars[i] == t[0] {
                var j = i
                var k = 0
                while k < t.count, j != scalars.endIndex, scalars[j] == t[k] {
                    j = scalars.index(after: j)
                    k += 1
                }
                if k == t.count { return i..<j }
            }
            i = scalars.index(after: i)
        }
        return nil
    }
}
