"""Straight to Warden's gRPC port with an independent client built from Envoy's own
generated stubs (PyPI xds-protos, grpcio): the edge cases Envoy would not send."""

import concurrent.futures as cf
import os
import signal
import subprocess

import grpc
import pytest

from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc

import harness as h

CHECK = "/envoy.service.auth.v3.Authorization/Check"


@pytest.fixture(scope="module")
def warden():
    port = h.free_port()
    p = h.start_warden(port, ["--bundle", h.HEADER_RBAC, "--decision", "envoy/authz/result",
                              "--no-decision-log"])
    yield port, p
    if p.proc.poll() is None:
        assert p.stop() == 0


def check_request(agent="code-review-bot", method="GET", path="/tools/search", headers=None, body=""):
    req = external_auth_pb2.CheckRequest()
    http = req.attributes.request.http
    http.method = method
    http.path = path
    http.host = "tools.internal"
    http.id = "42"
    http.headers["x-agent-id"] = agent
    for k, v in (headers or {}).items():
        http.headers[k] = v
    if body:
        http.body = body
    req.attributes.source.address.socket_address.address = "10.0.0.7"
    req.attributes.source.address.socket_address.port_value = 51234
    return req


def stub(port):
    return external_auth_pb2_grpc.AuthorizationStub(grpc.insecure_channel(f"127.0.0.1:{port}"))


def test_allow_and_deny(warden):
    s = stub(warden[0])
    ok = s.Check(check_request(), timeout=5)
    assert ok.status.code == 0
    assert ok.HasField("ok_response")
    added = {o.header.key: o.header.value for o in ok.ok_response.headers}
    assert added["x-warden-agent"] == "code-review-bot"
    assert ok.dynamic_metadata.fields["decision_id"].string_value
    denied = s.Check(check_request(method="POST", path="/tools/deploy"), timeout=5)
    assert denied.status.code == 7
    assert denied.denied_response.status.code == 403
    assert "may not POST" in denied.denied_response.body


def test_missing_fields_are_decided_not_crashed(warden):
    resp = stub(warden[0]).Check(external_auth_pb2.CheckRequest(), timeout=5)
    assert resp.status.code == 7
    assert "no agent named" in resp.denied_response.body


def test_undecodable_request_gets_a_400_denial(warden):
    channel = grpc.insecure_channel(f"127.0.0.1:{warden[0]}")
    call = channel.unary_unary(CHECK, request_serializer=lambda b: b,
                               response_deserializer=external_auth_pb2.CheckResponse.FromString)
    resp = call(b"\xff\xff\xff\xff", timeout=5)
    assert resp.denied_response.status.code == 400
    assert "could not be decoded" in resp.denied_response.body


def test_huge_headers_within_the_limit_are_fine(warden):
    resp = stub(warden[0]).Check(check_request(headers={"x-big": "v" * 500_000}), timeout=5)
    assert resp.status.code == 0


def test_a_message_over_the_limit_is_refused(warden):
    with pytest.raises(grpc.RpcError) as e:
        stub(warden[0]).Check(check_request(body="x" * (5 << 20)), timeout=5)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_unknown_method_is_unimplemented(warden):
    channel = grpc.insecure_channel(f"127.0.0.1:{warden[0]}")
    call = channel.unary_unary("/envoy.service.auth.v3.Authorization/Nope", request_serializer=lambda b: b,
                               response_deserializer=lambda b: b)
    with pytest.raises(grpc.RpcError) as e:
        call(b"", timeout=5)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_health_check_says_serving(warden):
    channel = grpc.insecure_channel(f"127.0.0.1:{warden[0]}")
    call = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda b: b,
                               response_deserializer=lambda b: b)
    assert call(b"", timeout=5) == b"\x08\x01"  # status: SERVING


def test_many_concurrent_calls_are_all_answered(warden):
    s = stub(warden[0])
    with cf.ThreadPoolExecutor(32) as ex:
        results = list(ex.map(lambda i: s.Check(check_request(agent="deploy-bot" if i % 2 else "x"), timeout=10).status.code,
                              range(2000)))
    assert results.count(0) == 1000 and results.count(7) == 1000


@pytest.mark.parametrize("threads", [("1", "0"), ("2", "3")], ids=["queue-thread-only", "2-queues-3-helpers"])
def test_concurrent_calls_each_get_their_own_answer(threads):
    """Calls arriving together are answered by queue and helper threads at once: each call
    gets the answer to its own request, and SIGTERM under load still exits cleanly."""
    port = h.free_port()
    p = h.start_warden(port, ["--bundle", h.HEADER_RBAC, "--decision", "envoy/authz/result", "--no-decision-log",
                              "--threads", threads[0], "--helper-threads", threads[1]])
    try:
        s = stub(port)
        agents = [("deploy-bot", "code-review-bot", f"x-{i}")[i % 3] for i in range(3000)]

        def answer(agent):
            r = s.Check(check_request(agent=agent), timeout=10)
            added = {o.header.key: o.header.value for o in r.ok_response.headers}
            return r.status.code, added.get("x-warden-agent")
        with cf.ThreadPoolExecutor(48) as ex:
            answers = list(ex.map(answer, agents))
        assert answers == [(7, None) if a.startswith("x-") else (0, a) for a in agents]
        with cf.ThreadPoolExecutor(16) as ex:
            running = [ex.submit(lambda: s.Check(check_request(), timeout=10).status.code) for _ in range(400)]
            p.proc.send_signal(signal.SIGTERM)
            assert p.proc.wait(timeout=15) == 0
            for f in running:
                try:
                    assert f.result() == 0
                except grpc.RpcError as e:  # after the listener closed
                    assert e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    finally:
        p.stop()


def test_thread_counts_out_of_range_are_refused():
    r = subprocess.run([h.WARDEN, "serve", "--listen", f"127.0.0.1:{h.free_port()}", "--bundle", h.HEADER_RBAC,
                        "--identity", "off", "--helper-threads", "65"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "listen.helper_threads (--helper-threads) must be from 0 to 64, got 65" in r.stderr


def test_a_client_that_gives_up_does_not_hurt_the_server(warden):
    s = stub(warden[0])
    for _ in range(50):
        try:
            s.Check(check_request(), timeout=0.0001)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert s.Check(check_request(), timeout=5).status.code == 0


def test_port_in_use_is_a_clear_error(warden):
    r = subprocess.run([h.WARDEN, "serve", "--listen", f"127.0.0.1:{warden[0]}", "--bundle",
                        h.HEADER_RBAC, "--identity", "off"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert f"cannot listen on 127.0.0.1:{warden[0]}" in r.stderr


def test_a_policy_that_does_not_compile_stops_startup(tmp_path):
    (tmp_path / "bad.rego").write_text("package envoy.authz\nallow if {\n  input.x ==\n}\n")
    r = subprocess.run([h.WARDEN, "serve", "--listen", f"127.0.0.1:{h.free_port()}", "-d", str(tmp_path), "--identity", "off"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "bad.rego:4:1: rego_parse_error" in r.stderr


def test_sighup_reloads_and_a_bad_policy_keeps_the_old_one(tmp_path):
    policy = tmp_path / "p.rego"
    policy.write_text("package envoy.authz\nallow := false\n")
    port = h.free_port()
    p = h.start_warden(port, ["-d", str(tmp_path)])
    try:
        s = stub(port)
        assert s.Check(check_request(), timeout=5).status.code == 7
        policy.write_text("package envoy.authz\nallow := true\n")
        p.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: s.Check(check_request(), timeout=5).status.code == 0)
        policy.write_text("package envoy.authz\nallow := {{{\n")
        p.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload failed" in p.output())
        assert s.Check(check_request(), timeout=5).status.code == 0
    finally:
        assert p.stop() == 0


def test_unix_socket(tmp_path):
    sock = str(tmp_path / "warden.sock")
    port = h.free_port()
    p = h.start_warden(port, ["--unix-socket", sock, "--bundle", h.HEADER_RBAC,
                              "--decision", "envoy/authz/result"])
    try:
        s = external_auth_pb2_grpc.AuthorizationStub(grpc.insecure_channel(f"unix:{sock}"))
        assert s.Check(check_request(), timeout=5).status.code == 0
    finally:
        p.stop()


def wait_until(cond, timeout=10):
    import time
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
