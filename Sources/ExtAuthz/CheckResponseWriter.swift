import Rego

/// A CheckResponse written straight from a `Decision` to protobuf wire bytes: the serve
/// path's encoder, the counterpart of `CheckRequestReader`.
///
/// Building the generated messages and serializing them cost about a tenth of a Check (the
/// `Struct` of the dynamic metadata alone is a dictionary of boxed values, sized and then
/// written). This writes the same message in one pass: fields in field-number order,
/// proto3 defaults left out, oneof members always written. `EnvoyDecision.checkResponse`
/// builds the generated message and stays the reference: the tests decode both encodings
/// of each decision and compare them.
extension EnvoyDecision {
    /// The serialized `envoy.service.auth.v3.CheckResponse` for a decision.
    public static func responseBytes(_ d: Decision, decisionID: String) -> [UInt8] {
        // Room for a typical answer (about 250 bytes with two headers, the decision id and
        // its metadata) and for the length bytes that nested messages over 127 bytes move it by.
        var w = WireWriter(capacity: 512 + (d.body?.utf8.count ?? 0))
        if d.allowed {
            w.message(1) { _ in }  // google.rpc.Status with code OK: present, empty
            w.message(3) { w in    // ok_response
                for h in d.headers { w.headerOption(2, h.0, h.1) }
                for name in d.requestHeadersToRemove { w.string(5, name) }
                for h in d.responseHeadersToAdd { w.headerOption(6, h.0, h.1) }
                w.headerOption(6, decisionIDHeader, decisionID)
                for q in d.queryParametersToSet {
                    w.message(7) { w in
                        w.string(1, q.0)
                        w.string(2, q.1)
                    }
                }
                for name in d.queryParametersToRemove { w.string(8, name) }
            }
        } else {
            w.message(1) { w in w.varint(1, 7) }  // PERMISSION_DENIED
            w.message(2) { w in                   // denied_response
                w.message(1) { w in w.varint(1, UInt64(d.httpStatus ?? 403)) }
                for h in d.headers { w.headerOption(2, h.0, h.1) }
                w.headerOption(2, decisionIDHeader, decisionID)
                if let body = d.body { w.string(3, body) }
            }
        }
        var metadata = d.dynamicMetadata ?? RegoObject()
        metadata["decision_id"] = .string(decisionID)
        w.message(4) { w in w.structFields(metadata) }
        return w.bytes
    }

    static let decisionIDHeader = "x-warden-decision-id"
}

/// Appends protobuf fields to a byte array. A nested message reserves one byte for its
/// length and moves its body only when the body turns out to need a longer length.
struct WireWriter {
    private(set) var bytes: [UInt8]

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func rawVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func tag(_ field: Int, _ wire: WireType) {
        rawVarint(UInt64(field) << 3 | UInt64(wire.rawValue))
    }

    mutating func varint(_ field: Int, _ value: UInt64) {
        tag(field, .varint)
        rawVarint(value)
    }

    /// A string field; proto3 leaves the empty string out.
    mutating func string(_ field: Int, _ value: String) {
        guard !value.isEmpty else { return }
        stringAlways(field, value)
    }

    /// A string field even when empty (a oneof member).
    mutating func stringAlways(_ field: Int, _ value: String) {
        tag(field, .lengthDelimited)
        var value = value
        value.withUTF8 { utf8 in
            rawVarint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func double(_ field: Int, _ value: Double) {
        tag(field, .fixed64)
        var bits = value.bitPattern.littleEndian
        withUnsafeBytes(of: &bits) { bytes.append(contentsOf: $0) }
    }

    /// A nested message: the tag, then its length, then what `body` writes.
    mutating func message(_ field: Int, _ body: (inout WireWriter) -> Void) {
        tag(field, .lengthDelimited)
        let lengthAt = bytes.count
        bytes.append(0)
        body(&self)
        let length = bytes.count - lengthAt - 1
        if length < 0x80 {
            bytes[lengthAt] = UInt8(length)
            return
        }
        var prefix = WireWriter(capacity: 10)
        prefix.rawVarint(UInt64(length))
        bytes.replaceSubrange(lengthAt..<lengthAt + 1, with: prefix.bytes)
    }

    // MARK: - Envoy and well-known messages

    /// `envoy.config.core.v3.HeaderValueOption` that overwrites the header or adds it.
    mutating func headerOption(_ field: Int, _ key: String, _ value: String) {
        message(field) { w in
            w.message(1) { w in
                w.string(1, key)
                w.string(2, value)
            }
            w.varint(3, 2)  // OVERWRITE_IF_EXISTS_OR_ADD
        }
    }

    /// The fields of a `google.protobuf.Struct`: one map entry per key. Keys that are not
    /// strings are written as their JSON text, as `EnvoyDecision.protoStruct` does.
    mutating func structFields(_ o: RegoObject) {
        for e in o.entries {
            message(1) { w in
                if case .string(let k) = e.key { w.string(1, k) } else { w.string(1, e.key.jsonString()) }
                w.message(2) { w in w.protoValue(e.value) }
            }
        }
    }

    /// The fields of a `google.protobuf.Value`; its kind is a oneof, written even when zero.
    mutating func protoValue(_ v: Value) {
        switch v {
        case .null: varint(1, 0)
        case .number(let n): double(2, n.doubleValue)
        case .string(let s): stringAlways(3, s)
        case .bool(let b): varint(4, b ? 1 : 0)
        case .object(let o): message(5) { w in w.structFields(o) }
        case .array(let a): message(6) { w in for x in a { w.message(1) { w in w.protoValue(x) } } }
        case .set(let s): message(6) { w in for x in s.elements { w.message(1) { w in w.protoValue(x) } } }
        }
    }
}
