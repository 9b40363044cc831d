"""Through a real Envoy: curl-style requests to Envoy, which asks Warden, which decides
with the demo policy; the echo upstream shows what reached it."""

import os
import textwrap

import pytest

import harness as h


@pytest.fixture(scope="module")
def stack():
    with h.Stack(["--bundle", h.HEADER_RBAC, "--decision", "envoy/authz/result"]) as s:
        yield {"envoy": s.envoy_port, "warden": s.warden, "warden_port": s.warden_port}


def test_allowed_request_reaches_the_upstream_with_headers_added_and_removed(stack):
    status, headers, body = h.http(stack["envoy"], "GET", "/tools/search",
                                   {"x-agent-id": "code-review-bot", "x-agent-secret": "s3cret"})
    assert status == 200
    echo = h.json_body(body)
    assert echo["path"] == "/tools/search"
    assert echo["headers"]["x-warden-agent"] == "code-review-bot"
    assert echo["headers"]["x-warden-owner"] == "ana@example.com"
    assert "x-agent-secret" not in echo["headers"]
    assert len(headers["x-warden-decision-id"]) == 36


def test_denied_request_gets_the_policy_status_headers_and_body(stack):
    status, headers, body = h.http(stack["envoy"], "POST", "/tools/deploy", {"x-agent-id": "code-review-bot"}, body="{}")
    assert status == 403
    assert headers["content-type"] == "application/json"
    assert len(headers["x-warden-decision-id"]) == 36
    denial = h.json_body(body)
    assert denial["reason"] == 'agent "code-review-bot" may not POST tool "deploy"'
    assert "grant" in denial["next"]


def test_unknown_agent_is_denied_with_a_reason(stack):
    status, _, body = h.http(stack["envoy"], "GET", "/tools/search", {"x-agent-id": "stranger"})
    assert status == 403
    assert h.json_body(body)["reason"] == 'agent "stranger" is not registered'


def test_every_decision_is_logged_with_its_id(stack):
    _, headers, _ = h.http(stack["envoy"], "GET", "/tools/search", {"x-agent-id": "deploy-bot"})
    assert headers["x-warden-decision-id"] in stack["warden"].output()


def test_policy_error_fails_closed(tmp_path):
    (tmp_path / "p.rego").write_text(textwrap.dedent("""
        package envoy.authz
        import rego.v1
        allow := 1 / count(input.nothing)   # undefined: the decision is missing
    """))
    with h.Stack(["-d", str(tmp_path), "--identity", "off"]) as s:
        status, _, body = h.http(s.envoy_port, "GET", "/anything")
        assert status == 500
        assert h.json_body(body)["error"] == "policy_error"
        assert "decision failed closed" in s.warden.output()


def test_malformed_decision_fails_closed(tmp_path):
    (tmp_path / "p.rego").write_text("package envoy.authz\nallow := {\"allowed\": \"yes\"}\n")
    with h.Stack(["-d", str(tmp_path), "--identity", "off"]) as s:
        status, _, _ = h.http(s.envoy_port, "GET", "/anything")
        assert status == 500
        assert '\\"allowed\\" must be a boolean' in s.warden.output()


def test_warden_stopped_means_envoy_denies(tmp_path):
    (tmp_path / "p.rego").write_text("package envoy.authz\nallow := true\n")
    with h.Stack(["-d", str(tmp_path), "--identity", "off"]) as s:
        assert h.http(s.envoy_port, "GET", "/x")[0] == 200
        assert s.warden.stop() == 0  # SIGTERM: a clean exit
        status, _, _ = h.http(s.envoy_port, "GET", "/x")
        assert status == 403  # failure_mode_allow: false
