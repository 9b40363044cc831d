import Rego
import Testing
@testable import AgentIdentity

/// The identity decision against an in-memory registry: each way an agent is refused, the
/// kill switch's token cut-off, and the verified-token cache.
struct IdentityGateTests {
    static func agent(_ change: (inout AgentRecord) -> Void = { _ in }) -> AgentRecord {
        var a = AgentRecord(id: Fixture.agentID, owner: .init(name: "Ana Lima", contact: "ana@example.com"), team: "team-platform",
                            purpose: "reviews", tier: 2, environments: ["dev", "staging"], tools: ["search", "repos"],
                            expiresAt: Fixture.now + 86_400)
        change(&a)
        return a
    }

    static func gate(_ agents: [AgentRecord], environment: String = "") -> IdentityGate {
        var rules = IdentityRules()
        rules.environment = environment
        return IdentityGate(rules: rules, snapshot: RegistrySnapshot(agents: agents, keys: Array(Fixture.keys.values), loadedAt: Fixture.now))
    }

    static func bearer(_ t: String) -> [String: String] { ["authorization": "Bearer " + t] }

    static func code(_ outcome: IdentityOutcome) -> String {
        switch outcome {
        case .admitted: return "admitted"
        case .refused(let r): return r.code
        }
    }

    @Test(arguments: [
        ("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER  abc ", "abc"), ("Bearer ", nil), ("Bearerabc", nil),
        ("Basic abc", nil), ("", nil), ("Béarer abc", nil),
    ] as [(String, String?)])
    func theTokenIsTakenFromABearerHeaderOfAnyCase(_ header: String, _ token: String?) {
        #expect(Self.gate([]).token(fromHeader: header) == token)
    }

    @Test func registeredAgentIsAdmittedWithItsRecordAsInputAgent() throws {
        let outcome = Self.gate([Self.agent()]).authenticate(headers: Self.bearer(Fixture.token()), now: Fixture.now)
        guard case .admitted(let a) = outcome else { Issue.record("refused: \(outcome)"); return }
        let (value, record, token) = (a.agent, a.record, a.token)
        #expect(record.id == Fixture.agentID)
        #expect(token.jti == "j1")
        guard case .object(let o) = value else { Issue.record("not an object"); return }
        #expect(o["id"] == .string(Fixture.agentID))
        #expect(o["tier"] == .int(2))
        #expect(o["tools"] == .array([.string("search"), .string("repos")]))
        guard case .object(let owner)? = o["owner"], case .object(let tok)? = o["token"] else { Issue.record("no owner/token"); return }
        #expect(owner["contact"] == .string("ana@example.com"))
        #expect(tok["jti"] == .string("j1"))
    }

    @Test func eachRefusalHasItsOwnReason() {
        let now = Fixture.now
        let cases: [(String, [AgentRecord], [String: String], Int)] = [
            ("token_missing", [Self.agent()], [:], 401),
            ("token_missing", [Self.agent()], ["authorization": "Basic dTpw"], 401),
            ("token_bad_signature", [Self.agent()], Self.bearer(TokenAttackTests.replacingSignature(Fixture.token()) { var s = $0; s[0] ^= 1; return s }), 401),
            ("agent_unknown", [], Self.bearer(Fixture.token()), 403),
            ("agent_no_owner", [Self.agent { $0.owner = nil }], Self.bearer(Fixture.token()), 403),
            ("agent_expired", [Self.agent { $0.expiresAt = now - 1 }], Self.bearer(Fixture.token()), 403),
            ("agent_retired", [Self.agent { $0.status = .retired }], Self.bearer(Fixture.token()), 403),
            ("agent_killed", [Self.agent { $0.status = .killed; $0.killedReason = "runaway loop" }], Self.bearer(Fixture.token()), 403),
            ("token_owner_mismatch", [Self.agent { $0.owner = .init(name: "Raj", contact: "raj@example.com") }], Self.bearer(Fixture.token()), 401),
            ("token_scope_not_allowed", [Self.agent()], Self.bearer(Fixture.token(payload: Fixture.claimsJSON(["scope": .string("search deploy")]))), 403),
            ("token_tenant_mismatch", [Self.agent()], Self.bearer(Fixture.token(payload: Fixture.claimsJSON(["tenant": .string("acme")]))), 403),
        ]
        for (code, agents, headers, status) in cases {
            let outcome = Self.gate(agents).authenticate(headers: headers, now: now)
            guard case .refused(let r) = outcome else { Issue.record("\(code): admitted"); continue }
            #expect(r.code == code)
            #expect(r.httpStatus == status, "\(code)")
            #expect(!r.next.isEmpty, "\(code) says what to do next")
        }
    }

    @Test func killedAgentsReasonReachesTheDeveloper() {
        let outcome = Self.gate([Self.agent { $0.status = .killed; $0.killedReason = "runaway loop" }])
            .authenticate(headers: Self.bearer(Fixture.token()), now: Fixture.now)
        guard case .refused(let r) = outcome else { Issue.record("admitted"); return }
        #expect(r.reason.contains("runaway loop"))
        #expect(r.next.contains("warden agent revive"))
    }

    /// The decision log ties a refused call to the agent's owner and the token used, from
    /// the registry and the verified token, never from the claims of a token that failed.
    @Test func aRefusalNamesTheRegisteredOwnerAndTheVerifiedToken() {
        func refusal(_ agents: [AgentRecord], _ headers: [String: String]) -> IdentityRefusal? {
            if case .refused(let r) = Self.gate(agents).authenticate(headers: headers, now: Fixture.now) { return r }
            return nil
        }
        let killed = refusal([Self.agent { $0.status = .killed; $0.tenant = "acme" }], Self.bearer(Fixture.token()))
        #expect(killed?.owner == "ana@example.com")
        #expect(killed?.tenant == "acme")
        #expect(killed?.jti == "j1")
        let unknown = refusal([], Self.bearer(Fixture.token()))
        #expect(unknown?.code == "agent_unknown")
        #expect(unknown?.owner == nil && unknown?.jti == "j1")
        let forged = refusal([Self.agent()], Self.bearer(TokenAttackTests.replacingSignature(Fixture.token()) { var s = $0; s[0] ^= 1; return s }))
        #expect(forged?.code == "token_bad_signature")
        #expect(forged?.owner == nil && forged?.tenant == nil && forged?.jti == nil)
    }

    @Test func tokensFromBeforeAKillStayRefusedAfterTheRevive() {
        let gate = Self.gate([Self.agent()])
        let old = Fixture.token()
        #expect(Self.code(gate.authenticate(headers: Self.bearer(old), now: Fixture.now)) == "admitted")
        // Killed a few seconds later, then revived: tokensValidAfter stays at the kill.
        gate.update(RegistrySnapshot(agents: [Self.agent { $0.status = .killed; $0.tokensValidAfter = Fixture.now + 5 }],
                                     keys: Array(Fixture.keys.values), loadedAt: Fixture.now + 5), now: Fixture.now + 5)
        #expect(Self.code(gate.authenticate(headers: Self.bearer(old), now: Fixture.now + 6)) == "agent_killed")
        gate.update(RegistrySnapshot(agents: [Self.agent { $0.tokensValidAfter = Fixture.now + 5 }],
                                     keys: Array(Fixture.keys.values), loadedAt: Fixture.now + 10), now: Fixture.now + 10)
        #expect(Self.code(gate.authenticate(headers: Self.bearer(old), now: Fixture.now + 11)) == "token_revoked")
        let fresh = Fixture.token(payload: Fixture.claimsJSON(["iat": .int(Int(Fixture.now) + 11), "jti": .string("j2")]))
        #expect(Self.code(gate.authenticate(headers: Self.bearer(fresh), now: Fixture.now + 11)) == "admitted")
    }

    @Test func repeatedTokensComeFromTheCacheAndRevocationDropsThem() {
        let gate = Self.gate([Self.agent()])
        let t = Fixture.token()
        #expect(gate.cache.count == 0)
        #expect(Self.code(gate.authenticate(headers: Self.bearer(t), now: Fixture.now)) == "admitted")
        #expect(gate.cache.count == 1)
        #expect(Self.code(gate.authenticate(headers: Self.bearer(t), now: Fixture.now + 1)) == "admitted")
        #expect(gate.cache.count == 1)
        gate.update(RegistrySnapshot(agents: [Self.agent { $0.status = .killed }], keys: Array(Fixture.keys.values), loadedAt: Fixture.now),
                    now: Fixture.now + 2)
        #expect(gate.cache.count == 0)
    }

    @Test func aCachedTokenStillExpires() {
        let gate = Self.gate([Self.agent()])
        let t = Fixture.token()
        #expect(Self.code(gate.authenticate(headers: Self.bearer(t), now: Fixture.now)) == "admitted")
        #expect(Self.code(gate.authenticate(headers: Self.bearer(t), now: Fixture.now + 900 + 31)) == "token_expired")
    }

    @Test func aKeyRetiredAfterCachingRefusesItsTokens() {
        let gate = Self.gate([Self.agent()])
        let t = Fixture.token()
        #expect(Self.code(gate.authenticate(headers: Self.bearer(t), now: Fixture.now)) == "admitted")
        var keys = Fixture.keys
        keys["a"] = Fixture.signingKey(Fixture.keyA, "a", retiredAt: Fixture.now + 1)
        gate.update(RegistrySnapshot(agents: [Self.agent()], keys: Array(keys.values), loadedAt: Fixture.now + 1), now: Fixture.now + 1)
        #expect(Self.code(gate.authenticate(headers: Self.bearer(t), now: Fixture.now + 2)) == "token_key_retired")
    }

    @Test func environmentIsChecked() {
        let t = Fixture.token()
        #expect(Self.code(Self.gate([Self.agent()], environment: "staging").authenticate(headers: Self.bearer(t), now: Fixture.now)) == "admitted")
        #expect(Self.code(Self.gate([Self.agent()], environment: "prod").authenticate(headers: Self.bearer(t), now: Fixture.now)) == "agent_wrong_environment")
    }

    @Test func nothingIsAdmittedBeforeTheRegistryLoads() {
        let gate = IdentityGate(rules: IdentityRules())
        guard case .refused(let r) = gate.authenticate(headers: Self.bearer(Fixture.token()), now: Fixture.now) else { Issue.record("admitted"); return }
        #expect(r.code == "registry_unavailable")
        #expect(r.httpStatus == 503)
    }
}

struct AgentManifestTests {
    static let now: Int64 = 1_800_000_000  // 2027-01-15

    static func parse(_ yaml: [String: Value]) throws(ManifestError) -> AgentRecord {
        try AgentManifest.parse(.object(RegoObject(fields: yaml)), now: now)
    }

    static let valid: [String: Value] = [
        "id": .string("agent/code-review-bot@team-platform"),
        "owner": .object(RegoObject(fields: ["name": .string("Ana Lima"), "contact": .string("ana@example.com")])),
        "team": .string("team-platform"), "purpose": .string("reviews pull requests"), "tier": .int(2),
        "environments": .array([.string("dev")]), "tools": .array([.string("search")]), "expires": .string("2027-06-30"),
    ]

    @Test func validManifestRegisters() throws {
        let a = try Self.parse(Self.valid)
        #expect(a.owner?.contact == "ana@example.com")
        #expect(a.tier == 2)
        #expect(RFC3339.format(seconds: Int(a.expiresAt), nanos: 0) == "2027-06-30T23:59:59Z")
    }

    @Test(arguments: [
        ("owner", nil as Value?, "owner: missing"),
        ("tier", .int(4), "tier: unknown tier 4"),
        ("tier", .string("admin"), "tier: unknown tier"),
        ("expires", .string("2020-01-01"), "expires: 2020-01-01 is in the past"),
        ("expires", .string("next year"), "expires: \"next year\" is not a date"),
        ("expires", .string("2027-02-30"), "is not a date"),
        ("environments", .array([.string("qa")]), "environments[0]: unknown environment \"qa\""),
        ("tools", .array([]), "tools: must list at least one"),
        ("id", .string("agent with spaces"), "id: "),
        ("colour", .string("blue"), "\"colour\": unknown field"),
    ])
    func invalidManifestIsRefusedWithTheFieldAndTheReason(field: String, value: Value?, message: String) {
        var m = Self.valid
        m[field] = value
        do {
            _ = try Self.parse(m)
            Issue.record("accepted a manifest with \(field) = \(value?.jsonString() ?? "nothing")")
        } catch {
            #expect(error.description.contains(message), "\(error.description)")
        }
    }

    @Test func ownerNeedsNameAndContact() {
        var m = Self.valid
        m["owner"] = .object(RegoObject(fields: ["name": .string("Ana")]))
        #expect(throws: ManifestError.self) { try Self.parse(m) }
    }
}
