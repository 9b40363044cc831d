"""Agent identity end to end: a real PostgreSQL registry, keys and tokens made by the CLI,
Envoy in front of Warden with the demo policy (which decides on input.agent)."""

import json
import os
import tempfile
import time

import pytest

import harness as h

AGENT = "agent/code-review-bot@team-platform"


@pytest.fixture(scope="module")
def registry(postgres, tmp_path_factory):
    url = postgres.create_database("identity")
    ident = h.Identity(url, tmp_path_factory.mktemp("identity"))
    ident.register(AGENT)
    return ident


def warden_args(url):
    return ["--bundle", os.path.join(h.ROOT, "policies"), "--decision", "envoy/authz/result", "--database-url", url,
            "--audit-spool", tempfile.mkdtemp(prefix="warden-spool-")]


@pytest.fixture(scope="module")
def stack(registry):
    with h.Stack(warden_args(registry.url)) as s:
        yield s


def bearer(token):
    return {"authorization": f"Bearer {token}"}


def call(stack, token=None, method="GET", path="/tools/search"):
    status, headers, body = h.http(stack.envoy_port, method, path, bearer(token) if token else {})
    return status, headers, (json.loads(body) if body.startswith("{") else body)



def test_registered_agent_with_a_token_is_allowed_and_the_token_stays_behind(stack, registry):
    status, headers, echo = call(stack, registry.mint(AGENT))
    assert status == 200
    assert echo["headers"]["x-warden-agent"] == AGENT
    assert echo["headers"]["x-warden-owner"] == "owner@example.com"
    assert "authorization" not in echo["headers"]
    assert len(headers["x-warden-decision-id"]) == 36


def test_no_token_is_a_401_that_says_what_to_do(stack):
    status, headers, body = call(stack)
    assert status == 401
    assert body["error"] == "token_missing"
    assert "warden token mint" in body["next"]
    assert body["decision_id"] == headers["x-warden-decision-id"]
    assert headers["www-authenticate"].startswith("Bearer")


def test_tampered_token_is_refused_for_its_signature(stack, registry):
    token = registry.mint(AGENT)
    head, payload, sig = token.split(".")
    claims = json.loads(h_b64decode(payload))
    claims["sub"] = "agent/admin"
    forged = f"{head}.{h_b64encode(json.dumps(claims))}.{sig}"
    status, _, body = call(stack, forged)
    assert status == 401
    assert body["error"] == "token_bad_signature"


def test_unregistered_and_ownerless_agents_are_refused(stack, registry, postgres):
    registry.register("agent/temp@team-test")
    token = registry.mint("agent/temp@team-test")
    assert call(stack, token)[0] == 200
    postgres.sql("UPDATE warden_agents SET owner_name = NULL, owner_contact = NULL WHERE id = 'agent/temp@team-test'", url=registry.url)
    assert h.wait_for(lambda: call(stack, token)[2].get("error") == "agent_no_owner")
    postgres.sql("DELETE FROM warden_agents WHERE id = 'agent/temp@team-test'", url=registry.url)
    assert h.wait_for(lambda: call(stack, token)[2].get("error") == "agent_unknown")
    status, _, body = call(stack, token)
    assert status == 403
    assert "warden agent register" in body["next"]


def test_policy_denial_through_the_registry_tools(stack, registry):
    status, _, body = call(stack, registry.mint(AGENT), method="POST", path="/tools/deploy")
    assert status == 403
    assert body["reason"] == f'agent "{AGENT}" is not registered for tool "deploy"'


def test_kill_reaches_two_wardens_within_a_second_and_old_tokens_stay_refused(registry):
    agent = "agent/killable@team-test"
    registry.register(agent)
    token = registry.mint(agent)
    with h.Stack(warden_args(registry.url)) as a, h.Stack(warden_args(registry.url)) as b:
        assert call(a, token)[0] == 200 and call(b, token)[0] == 200
        registry.agent("kill", agent, "--reason", "runaway loop")
        killed_at = time.time()
        denied = {}
        while len(denied) < 2 and time.time() - killed_at < 5:
            for name, s in (("a", a), ("b", b)):
                if name not in denied and call(s, token)[0] == 403:
                    denied[name] = time.time() - killed_at
        assert set(denied) == {"a", "b"}, f"not denied everywhere: {denied}"
        assert max(denied.values()) < 1.0, f"kill took {denied}"
        status, _, body = call(a, token)
        assert body["error"] == "agent_killed" and "runaway loop" in body["reason"]

        registry.agent("revive", agent)
        assert h.wait_for(lambda: call(a, token)[2].get("error") == "token_revoked")
        assert call(b, token)[2]["error"] == "token_revoked"
        time.sleep(1.1)  # token times are whole seconds: a new token is issued after the kill's second
        fresh = registry.mint(agent)
        assert call(a, fresh)[0] == 200 and call(b, fresh)[0] == 200


def test_expiry_passes_and_the_agent_is_deprovisioned(stack, registry):
    agent = "agent/short-lived@team-test"
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3))
    registry.register(agent, expires=expires)
    token = registry.mint(agent)
    assert call(stack, token)[0] == 200
    assert h.wait_for(lambda: call(stack, token)[0] == 403, timeout=8)
    status, _, body = call(stack, token)
    assert body["error"] == "agent_expired"
    assert "warden agent renew" in body["next"]
    registry.agent("renew", agent, "--until", "2099-01-01")
    assert h.wait_for(lambda: call(stack, registry.mint(agent))[0] == 200)


def test_retired_agent_and_retired_key(stack, registry):
    agent = "agent/retiring@team-test"
    registry.register(agent)
    token = registry.mint(agent)
    assert call(stack, token)[0] == 200
    registry.agent("retire", agent, "--reason", "replaced")
    assert h.wait_for(lambda: call(stack, token)[2].get("error") == "agent_retired")
    r = registry.agent("register", "-f", os.path.join(registry.workdir, agent.replace("/", "_") + ".yaml"), check=False)
    assert r.returncode == 1 and "retired" in r.stderr


def test_retired_key_refuses_its_tokens(postgres, tmp_path):
    url = postgres.create_database("identity_keys")
    ident = h.Identity(url, tmp_path)
    ident.register(AGENT)
    token = ident.mint(AGENT)
    with h.Stack(warden_args(url)) as s:
        assert call(s, token)[0] == 200
        # `--`: a kid is base64url and may start with '-'.
        h.warden_cli("keys", "retire", "--", ident.kid, database_url=url)
        assert h.wait_for(lambda: call(s, token)[2].get("error") == "token_key_retired")


def test_keys_from_a_jwks_directory_and_a_custom_header(postgres, tmp_path):
    url = postgres.create_database("identity_jwks")
    ident = h.Identity(url, tmp_path)
    ident.register(AGENT)
    keydir = tmp_path / "file-keys"
    kid = h.warden_cli("keys", "generate", "--out", str(keydir), "--kid", "file-key-1").stdout.strip()
    assert kid == "file-key-1"
    token = h.warden_cli("token", "mint", "--agent", AGENT, "--key", str(keydir / "file-key-1.pem"), database_url=url).stdout.strip()
    config = tmp_path / "warden.yaml"
    config.write_text(f"identity:\n  header: x-agent-token\n  jwks: [{keydir}]\n  environment: dev\n")
    with h.Stack(["--config", str(config), *warden_args(url)]) as s:
        status, _, _ = h.http(s.envoy_port, "GET", "/tools/search", {"x-agent-token": token})
        assert status == 200
        status, _, body = h.http(s.envoy_port, "GET", "/tools/search", bearer(token))
        assert status == 401 and json.loads(body)["error"] == "token_missing"


def test_token_inspect_shows_claims_and_verdict(registry):
    token = registry.mint(AGENT, "--ttl", "5m", "--scope", "search")
    r = h.warden_cli("token", "inspect", token, database_url=registry.url)
    assert '"sub":"agent/code-review-bot@team-platform"' in r.stdout
    assert "signature and claims: valid" in r.stdout
    assert f"agent: {AGENT} may act" in r.stdout
    bad = h.warden_cli("token", "inspect", token[:-4] + "AAAA", database_url=registry.url, check=False)
    assert bad.returncode == 1
    assert "token_bad_signature" in bad.stdout


def test_cli_refuses_bad_manifests_and_mints_only_for_active_agents(registry, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: agent/x\nteam: t\npurpose: p\ntier: 7\nenvironments: [dev]\ntools: [a]\nexpires: 2099-01-01\n")
    r = registry.agent("register", "-f", str(bad), check=False)
    assert r.returncode == 1 and "owner: missing" in r.stderr
    r = h.warden_cli("token", "mint", "--agent", "agent/nobody", "--key", registry.key, database_url=registry.url, check=False)
    assert r.returncode == 1 and "not registered" in r.stderr
    r = h.warden_cli("token", "mint", "--agent", AGENT, "--key", registry.key, "--ttl", "2h", database_url=registry.url, check=False)
    assert r.returncode == 1 and "longer than the maximum token lifetime" in r.stderr
    r = h.warden_cli("token", "mint", "--agent", AGENT, "--key", registry.key, "--scope", "deploy", database_url=registry.url, check=False)
    assert r.returncode == 1 and "not among" in r.stderr


def test_database_outage_keeps_deciding_and_reconnects(tmp_path):
    with h.OwnPostgres(tmp_path, AGENT) as (pg, url, ident, token):
        with h.Stack(warden_args(url)) as s:
            assert call(s, token)[0] == 200
            pg.stop()
            assert h.wait_for(lambda: "database connection lost" in s.warden.output() or "database unreachable" in s.warden.output())
            assert call(s, token)[0] == 200  # the registry it has
            pg.start()
            assert h.wait_for(lambda: "database reconnected" in s.warden.output(), timeout=15)
            ident.agent("kill", AGENT, "--reason", "after the outage")
            assert h.wait_for(lambda: call(s, token)[0] == 403)


def test_serve_without_a_database_explains_itself():
    r = h.warden_cli("serve", "--bundle", os.path.join(h.ROOT, "policies"), "--listen", f"127.0.0.1:{h.free_port()}", check=False)
    assert r.returncode == 2
    assert "no database is set" in r.stderr and "--identity off" in r.stderr


def h_b64decode(s):
    import base64
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def h_b64encode(s):
    import base64
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")
