"""The decision log end to end: Envoy → Warden → spool → PostgreSQL, nothing lost across
kill -9 and a database outage, tamper evidence, shadow mode."""

import json
import os
import signal
import textwrap
import threading
import time

import pytest

import harness as h

AGENT = "agent/code-review-bot@team-platform"


def warden_args(url, spool, *extra):
    return ["--bundle", os.path.join(h.ROOT, "policies"), "--decision", "envoy/authz/result", "--database-url", url,
            "--audit-spool", str(spool), "--no-decision-log", *extra]



def decision_ids_in_table(pg, url):
    out = pg.sql("SELECT decision_id FROM warden_decisions", url=url)
    return set(out.split()) if out else set()


def rows(pg, url, where="true"):
    out = pg.sql(f"SELECT coalesce(json_agg(record::json ORDER BY seq), '[]') FROM warden_decisions WHERE {where}", url=url)
    return json.loads(out)


def verify(url, *args):
    return h.warden_cli("audit", "verify", *args, database_url=url, check=False)


@pytest.fixture(scope="module")
def logged(postgres, tmp_path_factory):
    """A thousand decisions through Envoy: allowed, denied by the policy, refused for identity."""
    url = postgres.create_database("audit")
    work = tmp_path_factory.mktemp("audit")
    ident = h.Identity(url, work)
    ident.register(AGENT)
    token = ident.mint(AGENT)
    sent = {}
    with h.Stack(warden_args(url, work / "spool")) as s:
        for i in range(1000):
            if i % 10 == 0:
                status, headers, _ = h.http(s.envoy_port, "GET", "/tools/search", {"x-request-id": f"req-{i}"})
            elif i % 10 == 1:
                status, headers, _ = h.http(s.envoy_port, "POST", "/tools/deploy", {"authorization": f"Bearer {token}",
                                                                                   "x-request-id": f"req-{i}"}, body="{}")
            else:
                status, headers, _ = h.http(s.envoy_port, "GET", "/tools/search", {
                    "authorization": f"Bearer {token}", "x-request-id": f"req-{i}",
                    "traceparent": f"00-{i:032x}-00f067aa0ba902b7-01"})
            sent[headers["x-warden-decision-id"]] = (i, status)
        assert h.wait_for(lambda: len(decision_ids_in_table(postgres, url)) >= 1000)
    return {"pg": postgres, "url": url, "sent": sent, "token": token, "ident": ident, "work": work}


def test_a_thousand_decisions_all_have_their_rows_with_the_right_fields(logged):
    pg, url, sent = logged["pg"], logged["url"], logged["sent"]
    assert decision_ids_in_table(pg, url) == set(sent)
    by_request = {r["request_id"]: r for r in rows(pg, url)}
    allowed, denied, refused = by_request["req-2"], by_request["req-1"], by_request["req-0"]
    assert allowed["decision"] == "allow" and allowed["enforced"] is True
    assert allowed["agent_id"] == AGENT and allowed["owner"] == "owner@example.com"
    assert (allowed["method"], allowed["path"]) == ("GET", "/tools/search")
    assert allowed["host"].startswith("127.0.0.1:")
    assert allowed["bundle_revision"] == "demo-2" and allowed["policy_path"] == "envoy/authz/result"
    assert allowed["trace_id"] == f"{2:032x}" and len(allowed["jti"]) == 32
    assert allowed["eval_us"] >= 0 and allowed["total_us"] >= allowed["eval_us"]
    assert allowed["tool"] == "search"
    assert "authorization" not in allowed["input"]["attributes"]["request"]["http"]["headers"]  # masked
    assert allowed["input"]["agent"]["id"] == AGENT
    assert denied["decision"] == "deny" and denied["http_status"] == 403
    assert denied["reasons"] == [f'agent "{AGENT}" is not registered for tool "deploy"']
    assert refused["decision"] == "deny" and refused["http_status"] == 401
    assert refused["reasons"][0].startswith("token_missing")
    # Every field is a column of the warden_decision_log view.
    assert pg.sql("SELECT count(*) FROM warden_decision_log WHERE decision = 'deny' AND http_status = 403", url=url) == "100"


def test_a_killed_agents_refused_call_is_recorded_with_its_owner_and_token(postgres, tmp_path):
    url = postgres.create_database("audit_killed")
    ident = h.Identity(url, tmp_path)
    ident.register(AGENT)
    token = ident.mint(AGENT)
    with h.Stack(warden_args(url, tmp_path / "spool")) as s:
        ident.agent("kill", AGENT, "--reason", "runaway loop")

        refusals = []

        def refused():
            status, headers, _ = h.http(s.envoy_port, "GET", "/tools/search", {"authorization": f"Bearer {token}"})
            if status == 403:
                refusals.append(headers["x-warden-decision-id"])
            return refusals
        assert h.wait_for(refused), "the kill did not reach Warden"
        decision = refusals[0]
        assert h.wait_for(lambda: rows(postgres, url, f"decision_id = '{decision}'"))
    row = rows(postgres, url, f"decision_id = '{decision}'")[0]
    assert row["reasons"][0].startswith("agent_killed") and row["agent_id"] == AGENT
    # From the registry and the verified token, so "who owned the agent that was refused" has an answer.
    assert row["owner"] == "owner@example.com" and len(row["jti"]) == 32


def test_reports_and_views(logged):
    pg, url = logged["pg"], logged["url"]
    assert pg.sql(f"SELECT sum(calls) FROM warden_report_activity WHERE agent_id = '{AGENT}'", url=url) == "900"
    r = h.warden_cli("report", "--since", "1h", "--format", "json", database_url=url)
    report = json.loads(r.stdout)
    activity = {row["agent_id"]: row for row in report["activity per agent and owner"]}
    assert activity[AGENT]["calls"] == "900" and activity[AGENT]["denied"] == "100"
    reasons = {row["reason"]: row["n"] for row in report["denials and would-block by reason"]}
    assert reasons[f'agent "{AGENT}" is not registered for tool "deploy"'] == "100"
    table = h.warden_cli("report", "--agent", AGENT, database_url=url).stdout
    assert "== evaluation latency" in table and "envoy/authz/result" in table
    assert "policy_path" in h.warden_cli("report", "--format", "csv", database_url=url).stdout


def test_the_log_is_append_only(logged):
    pg, url = logged["pg"], logged["url"]
    for statement in ("UPDATE warden_decisions SET record = record WHERE seq = 1", "DELETE FROM warden_decisions WHERE seq = 1",
                      "TRUNCATE warden_decisions"):
        with pytest.raises(RuntimeError, match="append-only"):
            pg.sql(statement, url=url)


def test_audit_verify_finds_the_altered_removed_or_inserted_row(logged):
    pg, url = logged["pg"], logged["url"]
    ok = verify(url)
    assert ok.returncode == 0 and "intact: 1000 rows" in ok.stdout, ok.stdout + ok.stderr
    bypass = "SET session_replication_role = replica; "  # what an attacker with superuser rights would do

    original = pg.sql("SELECT record FROM warden_decisions WHERE seq = 500", url=url)
    altered = original.replace('"decision":"deny"', '"decision":"allow"').replace('"decision":"allow"', '"decision":"deny"', 1)
    pg.sql(bypass + f"UPDATE warden_decisions SET record = $${altered}$$ WHERE seq = 500", url=url)
    bad = verify(url)
    assert bad.returncode == 1 and "row 500: altered" in bad.stdout, bad.stdout
    pg.sql(bypass + f"UPDATE warden_decisions SET record = $${original}$$ WHERE seq = 500", url=url)
    assert verify(url).returncode == 0
    pg.sql(bypass + "UPDATE warden_decisions SET agent_id = 'agent/someone-else' WHERE seq = 600", url=url)
    bad = verify(url)
    assert bad.returncode == 1 and "row 600: altered: its columns no longer match" in bad.stdout, bad.stdout
    pg.sql(bypass + "UPDATE warden_decisions SET agent_id = record::jsonb ->> 'agent_id' WHERE seq = 600", url=url)
    assert verify(url).returncode == 0

    saved = pg.sql("SELECT record || E'\\t' || encode(prev_hash, 'hex') || E'\\t' || encode(row_hash, 'hex') || E'\\t' || decision_id "
                   "|| E'\\t' || time::text || E'\\t' || coalesce(agent_id, '') FROM warden_decisions WHERE seq = 700", url=url)
    pg.sql(bypass + "DELETE FROM warden_decisions WHERE seq = 700", url=url)
    bad = verify(url)
    assert bad.returncode == 1 and "row 701: row 700 is missing" in bad.stdout, bad.stdout
    record, prev, row, decision_id, when, agent = saved.split("\t")
    pg.sql(f"INSERT INTO warden_decisions (seq, decision_id, time, agent_id, record, prev_hash, row_hash) VALUES "
           f"(700, '{decision_id}', '{when}', nullif('{agent}', ''), $${record}$$, '\\x{prev}', '\\x{row}')", url=url)
    assert verify(url).returncode == 0

    head = int(pg.sql("SELECT seq FROM warden_audit_head", url=url))
    fake = json.dumps({"decision": "allow", "decision_id": "00000000-0000-7000-8000-000000000001", "time_us": 0})
    pg.sql(f"INSERT INTO warden_decisions (seq, decision_id, time, record, prev_hash, row_hash) VALUES ({head + 1}, "
           f"'00000000-0000-7000-8000-000000000001', to_timestamp(0), $${fake}$$, '\\x00', '\\x00')", url=url)
    bad = verify(url)
    assert bad.returncode == 1 and f"row {head + 1}:" in bad.stdout and "inserted" in bad.stdout, bad.stdout
    pg.sql(bypass + f"DELETE FROM warden_decisions WHERE seq = {head + 1}", url=url)
    assert verify(url, "--since", "1h").returncode == 0


class Load:
    """Requests through Envoy on a thread; keeps the decision id of every answer Warden gave."""

    def __init__(self, port, token):
        self.port, self.token = port, token
        self.ids, self.errors = set(), 0
        self.stop_flag = False
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        i = 0
        while not self.stop_flag:
            i += 1
            try:
                _, headers, _ = h.http(self.port, "GET", "/tools/search" if i % 3 else "/tools/deploy",
                                       {"authorization": f"Bearer {self.token}"}, timeout=2)
                if "x-warden-decision-id" in headers:
                    self.ids.add(headers["x-warden-decision-id"])
            except OSError:
                self.errors += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag = True
        self.thread.join(timeout=10)


def test_kill_9_under_load_loses_nothing(logged, tmp_path):
    pg, url, token = logged["pg"], logged["url"], logged["token"]
    spool = tmp_path / "spool"
    with h.Stack(warden_args(url, spool)) as s:
        with Load(s.envoy_port, token) as load:
            time.sleep(1.5)
            s.warden.proc.send_signal(signal.SIGKILL)
            s.warden.proc.wait()
            time.sleep(0.3)
        received = set(load.ids)
        assert len(received) > 20
        s.warden = h.start_warden(s.warden_port, warden_args(url, spool))
        assert h.wait_for(lambda: received <= decision_ids_in_table(pg, url), timeout=30), \
            f"{len(received - decision_ids_in_table(pg, url))} decisions missing after the restart"
    assert verify(url).returncode == 0


def test_database_outage_under_load_keeps_deciding_and_catches_up(tmp_path):
    with h.OwnPostgres(tmp_path, AGENT) as (pg, url, ident, token):
        with h.Stack(warden_args(url, tmp_path / "spool")) as s:
            with Load(s.envoy_port, token) as load:
                time.sleep(1)
                pg.stop()
                before = len(load.ids)
                time.sleep(2)
                during = len(load.ids) - before
                pg.start()
                time.sleep(1)
            assert during > 20, "Warden kept deciding while PostgreSQL was down"
            received = set(load.ids)
            assert h.wait_for(lambda: received <= decision_ids_in_table(pg, url), timeout=30)
            assert "audit shipping paused" in s.warden.output() and "audit shipping resumed" in s.warden.output()
        assert verify(url).returncode == 0


def test_shadow_modes_record_and_do_not_enforce(logged, tmp_path):
    pg, url, token = logged["pg"], logged["url"], logged["token"]
    auth = {"authorization": f"Bearer {token}"}
    # Whole Warden in shadow: the denial is recorded as would_block and Envoy lets it through.
    with h.Stack(warden_args(url, tmp_path / "s1", "--policy-mode", "shadow")) as s:
        status, headers, _ = h.http(s.envoy_port, "POST", "/tools/deploy", auth, body="{}")
        assert status == 200
        h.wait_for(lambda: headers["x-warden-decision-id"] in decision_ids_in_table(pg, url))
        row = rows(pg, url, f"decision_id = '{headers['x-warden-decision-id']}'")[0]
        assert row["decision"] == "would_block" and row["enforced"] is False
        assert row["shadow"][0]["source"] == "warden" and row["shadow"][0]["decision"] == "would_block"

    # A shadow bundle beside the enforced policy: both decisions visible.
    strict = tmp_path / "strict"
    (strict / "envoy").mkdir(parents=True)
    (strict / ".manifest").write_text('{"revision": "strict-1"}')
    (strict / "envoy" / "authz.rego").write_text(textwrap.dedent("""
        package envoy.authz
        import rego.v1
        result := {"allowed": false, "reasons": ["everything is blocked in the strict draft"]}
    """))
    with h.Stack(warden_args(url, tmp_path / "s2", "--shadow-bundle", str(strict))) as s:
        status, headers, _ = h.http(s.envoy_port, "GET", "/tools/search", auth)
        assert status == 200
        h.wait_for(lambda: headers["x-warden-decision-id"] in decision_ids_in_table(pg, url))
        row = rows(pg, url, f"decision_id = '{headers['x-warden-decision-id']}'")[0]
        assert row["decision"] == "allow" and row["enforced"] is True
        assert row["shadow"] == [{"source": "bundle:strict-1", "decision": "would_block",
                                  "reasons": ["everything is blocked in the strict draft"]}]

    # Per rule: a new connector's rules shadow while the others enforce.
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "p.rego").write_text(textwrap.dedent("""
        package envoy.authz
        import rego.v1
        deny contains {"rule": "connector.github", "message": "the github connector is not approved yet"} if input.parsed_path[1] == "github"
        deny contains {"rule": "core.methods", "message": "DELETE is not allowed"} if input.attributes.request.http.method == "DELETE"
        result := {"allowed": count(deny) == 0, "reasons": deny, "http_status": 403}
    """))
    (rules / "mask.rego").write_text(textwrap.dedent("""
        package system.log
        import rego.v1
        mask contains "/input/attributes/request/http/headers/x-api-key"
    """))
    config = tmp_path / "warden.yaml"
    config.write_text("policy:\n  shadow_rules: ['connector.*']\n")
    with h.Stack(["--config", str(config), "-d", str(rules), "--decision", "envoy/authz/result", "--database-url", url,
                  "--audit-spool", str(tmp_path / "s3")]) as s:
        ok, h1, _ = h.http(s.envoy_port, "GET", "/tools/github", {**auth, "x-api-key": "s3cret", "x-kept": "yes"})
        blocked, h2, _ = h.http(s.envoy_port, "DELETE", "/tools/github", auth)
        assert (ok, blocked) == (200, 403)
        ids = {h1["x-warden-decision-id"], h2["x-warden-decision-id"]}
        h.wait_for(lambda: ids <= decision_ids_in_table(pg, url))
        shadowed = rows(pg, url, f"decision_id = '{h1['x-warden-decision-id']}'")[0]
        enforced = rows(pg, url, f"decision_id = '{h2['x-warden-decision-id']}'")[0]
        assert shadowed["decision"] == "would_block" and shadowed["shadow"][0]["source"] == "rule"
        logged_headers = shadowed["input"]["attributes"]["request"]["http"]["headers"]
        assert "x-api-key" not in logged_headers and logged_headers["x-kept"] == "yes"  # system.log.mask
        assert enforced["decision"] == "deny" and enforced["enforced"] is True
        assert enforced["shadow"] == [{"source": "rule", "decision": "would_block",
                                       "reasons": [{"rule": "connector.github", "message": "the github connector is not approved yet"}]}]
    ratio = pg.sql("SELECT would_block FROM warden_report_would_block_ratio WHERE policy_path = 'envoy/authz/result' "
                   "AND bundle_revision = ''", url=url)
    assert int(ratio) >= 2


def test_a_full_spool_denies_rather_than_act_unrecorded(tmp_path):
    (tmp_path / "p.rego").write_text("package envoy.authz\nallow := true\n")
    config = tmp_path / "warden.yaml"
    config.write_text("audit:\n  spool_max_bytes: 1048576\n")
    unreachable = f"postgresql://warden@127.0.0.1:{h.free_port()}/nowhere"
    with h.Stack(["--config", str(config), "-d", str(tmp_path), "--identity", "off", "--database-url", unreachable,
                  "--audit-spool", str(tmp_path / "spool")]) as s:
        padding = {"x-padding": "p" * 4000}
        statuses = [h.http(s.envoy_port, "GET", "/x", padding)[0] for _ in range(400)]
        assert statuses[0] == 200 and statuses[-1] == 503
        status, _, body = h.http(s.envoy_port, "GET", "/x")
        assert status == 503 and json.loads(body)["error"] == "audit_unavailable"
        assert "could not be recorded" in s.warden.output()


def test_two_wardens_cannot_share_a_spool(logged, tmp_path):
    spool = tmp_path / "spool"
    with h.Stack(warden_args(logged["url"], spool)):
        r = h.warden_cli("serve", "--listen", f"127.0.0.1:{h.free_port()}", *warden_args(logged["url"], spool), check=False)
        assert r.returncode == 1 and "in use by another Warden" in r.stderr
    assert oct(os.stat(spool).st_mode & 0o777) == "0o700"
