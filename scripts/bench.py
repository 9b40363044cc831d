#!/usr/bin/env python3
"""`make bench`: Warden's serve path against baselines measured in the same run, on loopback.

  (a) Envoy with no ext_authz
  (b) Envoy with a minimal always-allow ext_authz server on the same gRPC layer
  (c) Envoy with Warden evaluating the example policy, identity checks on: every request
      carries an agent token (verified once, then served from the token cache) and the
      agent registry comes from PostgreSQL; the decision log off (issue 3's serve path),
      then on (shown beside it; issue 5's ratios measure the log on its own terms)
  (b') a control: the always-allow server decoding each request with swift-protobuf before
      it allows, as a Swift authorizer built the usual way reads its request, deciding
      nothing; its ratios are printed beside Warden's, for scale

First, how much the machine's two vCPUs slow each other (a CPU-bound loop on one, with the
other idle and then busy). Then wrk at 1 and 16 connections through Envoy (requests/s,
p50, p99; at 16 connections, Envoy's and the authorizer's CPU per request too): (a), (b),
(c) with the log off and (b') run side by side and are measured in turn for --rounds
rounds, and each ratio is the median of the rounds' own ratios. h2load straight at the
gRPC ports of (b) and (c) with a pre-framed CheckRequest (Checks/s), in turn too. Warden's
resident memory sampled over a long h2load run, after the allocator's warm-up. The decision log: latency with it on vs off and, as a control,
off beside an unrelated process that burns the CPU the log's background work used; rows
shipped per second at full Check rate; Check p99 while PostgreSQL is frozen. Then identity alone (bench-identity, in-process): Check latency
with a cached token vs identity off, and cold Ed25519 token verifications/s against
`openssl speed ed25519` run in the same benchmark. And where one Check's time goes,
stage by stage (bench-check, in-process). Prints ratios; asserts nothing.
"""

import argparse
import json
import os
import signal
import re
import subprocess
import sys
import tempfile
import time
from statistics import median

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "integration"))
import harness as h  # noqa: E402

ALLOW_SERVER = os.path.join(h.ROOT, ".build", "release", "bench-allow-server")
BENCH_IDENTITY = os.path.join(h.ROOT, ".build", "release", "bench-identity")
BENCH_CHECK = os.path.join(h.ROOT, ".build", "release", "bench-check")
AGENT = "agent/code-review-bot@team-platform"
HEADERS = []  # set in main(): the agent's bearer token
PATH = "/tools/search"


def parse_duration_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else (v * 1000 if unit == "s" else v)


def wrk(port, conns, seconds):
    threads = "1" if conns == 1 else "2"
    out = subprocess.run(["wrk", "-t", threads, "-c", str(conns), "-d", f"{seconds}s", "--latency", *HEADERS,
                          f"http://127.0.0.1:{port}{PATH}"], capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = parse_duration_ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = parse_duration_ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50": p50, "p99": p99, "errors": int(non2xx.group(1)) if non2xx else 0}


def framed_check_request(path, token):
    from envoy.service.auth.v3 import external_auth_pb2
    req = external_auth_pb2.CheckRequest()
    http = req.attributes.request.http
    http.method, http.path, http.host, http.scheme, http.protocol = "GET", PATH, "127.0.0.1:8000", "http", "HTTP/1.1"
    http.id = "1234567890"
    http.headers.update({":method": "GET", ":path": PATH, ":authority": "127.0.0.1:8000", "user-agent": "wrk",
                         "authorization": f"Bearer {token}", "x-request-id": "5d2f6c7e-2a51-4d0a-9c3e-6f1e2b7a8c90"})
    req.attributes.source.address.socket_address.address = "127.0.0.1"
    req.attributes.source.address.socket_address.port_value = 50000
    req.attributes.destination.address.socket_address.address = "127.0.0.1"
    req.attributes.destination.address.socket_address.port_value = 8000
    msg = req.SerializeToString()
    with open(path, "wb") as fh:
        fh.write(b"\x00" + len(msg).to_bytes(4, "big") + msg)


def h2load(port, body, n, clients=2, streams=64):
    out = subprocess.run(["h2load", "-n", str(n), "-c", str(clients), "-m", str(streams), "-d", body,
                          "-H", "content-type: application/grpc", "-H", "te: trailers",
                          f"http://127.0.0.1:{port}/envoy.service.auth.v3.Authorization/Check"],
                         capture_output=True, text=True, timeout=300).stdout
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    ok = int(re.search(r"(\d+) succeeded", out).group(1))
    return {"rps": rps, "succeeded": ok}


def process_cpu_seconds(pid):
    """User and system CPU a process has used so far, all its threads, exited ones included
    (/proc/PID/stat). `cpu_seconds` below reads one thread's schedstat, finer but per
    thread: right for PostgreSQL's single-threaded backends and the shipper thread, not
    for Envoy or the gRPC servers."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# A CPU-bound loop, pinned to CPU 0, that prints how long it took.
SIBLING_PROBE = ("import os, time\nos.sched_setaffinity(0, {0})\nt = time.perf_counter()\nx = 0\n"
                 "for i in range(2_000_000): x += i * i\nprint(time.perf_counter() - t)")


def sibling_slowdown(rounds=3):
    """How much longer a CPU-bound loop on CPU 0 takes while another process keeps CPU 1
    busy (median of `rounds` idle/busy pairs), or None on one CPU. On this VM it has been
    0.95x to 1.84x: when above 1, any process's CPU time slows the others, so at 16
    connections an authorizer's CPU per Check slows Envoy's worker too."""
    if (os.cpu_count() or 1) < 2:
        return None

    def probe():
        return min(float(subprocess.run([sys.executable, "-c", SIBLING_PROBE], capture_output=True,
                                        text=True, check=True).stdout) for _ in range(3))

    ratios = []
    for _ in range(rounds):
        idle = probe()
        burner = subprocess.Popen(["taskset", "-c", "1", sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(0.2)
            busy = probe()
        finally:
            burner.kill()
            burner.wait()
        ratios.append(busy / idle)
    return median(ratios)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def through_envoy(label, template, authz_port, seconds):
    port = h.free_port()
    envoy = h.start_envoy(template, port, 0, authz_port)
    try:
        wrk(port, 1, 1)  # warm up
        r1, r16 = wrk(port, 1, seconds), wrk(port, 16, seconds)
    finally:
        envoy.stop()
    print(f"  {label:<46} 1 conn: {r1['rps']:8.0f} req/s  p50 {r1['p50']:.3f} ms  p99 {r1['p99']:.3f} ms"
          f" | 16 conns: {r16['rps']:8.0f} req/s  p50 {r16['p50']:.3f} ms  p99 {r16['p99']:.3f} ms"
          + (f"  ({r1['errors'] + r16['errors']} non-2xx)" if r1["errors"] + r16["errors"] else ""))
    return r1, r16


def warden_args(pg, spool):
    args = ["--bundle", os.path.join(h.ROOT, "policies"), "--decision", "envoy/authz/result", "--no-decision-log",
            "--database-url", pg.url()]
    return args + (["--audit-spool", spool] if spool else ["--no-audit"])


def rows_in_log(pg):
    return int(pg.sql("SELECT count(*) FROM warden_decisions"))


def settled_rows(pg, quiet=0.5, limit=10):
    """The log's row count once the decisions of earlier runs have all been shipped (no new
    row for `quiet` seconds), so that they are not counted against the next run's."""
    rows, start = rows_in_log(pg), time.time()
    changed = start
    while time.time() - changed < quiet and time.time() - start < limit:
        time.sleep(0.1)
        now = rows_in_log(pg)
        if now != rows:
            rows, changed = now, time.time()
    return rows


def postgres_pids(pg):
    with open(os.path.join(pg.dir, "postmaster.pid")) as fh:
        main = fh.readline().strip()
    children = subprocess.run(["pgrep", "-P", main], capture_output=True, text=True).stdout.split()
    return [int(main)] + [int(c) for c in children]


def cpu_seconds(task_dir):
    """CPU time so far of one thread (or of a single-threaded process), from the
    scheduler's nanosecond account in /proc/…/schedstat: utime and stime in /proc/…/stat
    are sampled at the clock tick, too coarse for a thread that runs in short bursts. 0
    once it is gone."""
    try:
        with open(os.path.join(task_dir, "schedstat")) as fh:
            return int(fh.read().split()[0]) / 1e9
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def thread_ids(pid, name):
    """Thread ids of `pid` whose name is `name`."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as fh:
                if fh.read().strip() == name:
                    out.append(int(tid))
        except FileNotFoundError:
            pass
    return out


def background_cpu(pg, warden_pid):
    """CPU seconds so far of the decision log's background work: every PostgreSQL process
    (each is single-threaded) and Warden's shipper thread. Neither is on the Check path.
    The shipper's is None when there is no such thread: printed as n/a rather than as 0."""
    postgres = sum(cpu_seconds(f"/proc/{pid}") for pid in postgres_pids(pg))
    shipper = [cpu_seconds(f"/proc/{warden_pid}/task/{tid}") for tid in thread_ids(warden_pid, "warden-audit")]
    return postgres, (shipper[0] if shipper else None)


class ControlLoad:
    """The control arm: an unrelated process that burns `fraction` of one CPU in bursts
    every 10 ms, the shipper's cadence at the one-connection rate (it looks every 10 ms and
    ships what has gathered). Run beside Warden with its log off, it shows what
    the same amount of background CPU does to Check latency on this machine, whoever
    spends it."""

    CODE = ("import sys, time\n"
            "busy, period = float(sys.argv[1]), 0.01\n"
            "while True:\n"
            "    start = time.perf_counter()\n"
            "    while time.perf_counter() - start < busy * period: pass\n"
            "    time.sleep(max(0.0, period - (time.perf_counter() - start)))\n")

    def __init__(self, fraction):
        self.fraction = fraction

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", self.CODE, f"{self.fraction:.4f}"])
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


class IsolatedLayout:
    """PostgreSQL and Warden's shipper thread (`warden-audit`) on the last CPU, the request
    path (the load generator, Envoy, Warden's other threads) on the others: on one machine,
    the layout of a deployment whose database has its own host. Set with taskset, undone
    on exit."""

    def __init__(self, pg, request_path_pids, shipping_warden_pid):
        self.pg, self.request_path_pids, self.shipping_warden_pid = pg, request_path_pids, shipping_warden_pid
        self.cpus = os.cpu_count() or 1

    @staticmethod
    def taskset(pid, cpus, all_threads, strict):
        r = subprocess.run(["taskset"] + (["-a"] if all_threads else []) + ["-c", "-p", cpus, str(pid)], capture_output=True)
        if strict and r.returncode != 0:
            raise OSError(f"taskset -c -p {cpus} {pid}: {r.stderr.strip()}")

    def apply(self, database_cpus, path_cpus, strict=True):
        """Moves everything; when undoing (not strict), moves what it can."""
        for pid in postgres_pids(self.pg):
            self.taskset(pid, database_cpus, True, strict)
        for pid in self.request_path_pids:
            self.taskset(pid, path_cpus, True, strict)
        for tid in thread_ids(self.shipping_warden_pid, "warden-audit"):
            self.taskset(tid, database_cpus, False, strict)
        os.sched_setaffinity(0, {int(c) for c in path_cpus.split(",")})  # wrk inherits it

    def __enter__(self):
        last = self.cpus - 1
        try:
            self.apply(str(last), ",".join(str(c) for c in range(last)))
        except OSError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        every = ",".join(str(c) for c in range(self.cpus))
        self.apply(every, every, strict=False)


def audit_bench(a, pg, body, spool_root):
    """Issue 5's figures: Check latency with the decision log on vs off (through Envoy, runs
    alternating so drift hits both); rows shipped per second while Warden answers Checks as
    fast as it can, and whether the backlog grows; Check p99 while PostgreSQL is frozen."""
    on_port, off_port = h.free_port(), h.free_port()
    on = h.start_warden(on_port, warden_args(pg, os.path.join(spool_root, "on")))
    off = h.start_warden(off_port, warden_args(pg, None))
    envoy_on_port, envoy_off_port = h.free_port(), h.free_port()
    envoy_on = h.start_envoy("bench-ext-authz.yaml", envoy_on_port, 0, on_port)
    envoy_off = h.start_envoy("bench-ext-authz.yaml", envoy_off_port, 0, off_port)
    try:
        wrk(envoy_on_port, 1, 1)
        wrk(envoy_off_port, 1, 1)
        # Rounds of three runs: log off; log on, with the CPU its background work (PostgreSQL
        # and the shipper) spends meanwhile; log off again beside a control load that burns
        # that much CPU in the shipper's rhythm.
        ratios, control_ratios, fractions, per_row = [], [], [], []
        last_on = last_off = last_control = None
        for _ in range(5):
            last_off = wrk(envoy_off_port, 1, 3)
            rows_before, cpu_before, t0 = rows_in_log(pg), background_cpu(pg, on.proc.pid), time.time()
            last_on = wrk(envoy_on_port, 1, 3)
            wall = time.time() - t0
            cpu_after, rows = background_cpu(pg, on.proc.pid), rows_in_log(pg) - rows_before
            spent = [None if after is None or before is None else after - before for after, before in zip(cpu_after, cpu_before)]
            fractions.append(min(0.9, sum(x or 0.0 for x in spent) / wall))
            if rows > 0:
                per_row.append([None if x is None else x / rows * 1e6 for x in spent])
            with ControlLoad(fractions[-1]):
                last_control = wrk(envoy_off_port, 1, 3)
            ratios.append(last_on["p99"] / last_off["p99"])
            control_ratios.append(last_control["p99"] / last_off["p99"])
        ratios.sort()
        control_ratios.sort()
        fractions.sort()
        print("decision log (through Envoy, 1 connection, 5 rounds of 3 s runs: off, on, off beside a control load):")
        print(f"  audit off: p50 {last_off['p50']:.3f} ms p99 {last_off['p99']:.3f} ms; audit on: p50 {last_on['p50']:.3f} ms "
              f"p99 {last_on['p99']:.3f} ms; off beside the control load: p50 {last_control['p50']:.3f} ms "
              f"p99 {last_control['p99']:.3f} ms")
        if per_row:
            def median_us(xs):
                xs = sorted(x for x in xs if x is not None)
                return f"{xs[len(xs) // 2]:.0f} µs" if xs else "n/a (thread not found)"
            print(f"  background CPU per decision: PostgreSQL {median_us(r[0] for r in per_row)}, "
                  f"Warden's shipper {median_us(r[1] for r in per_row)}; "
                  f"{fractions[len(fractions) // 2] * 100:.1f}% of one CPU at this rate, which the control load burns too")

        # The same comparison with PostgreSQL and the shipper off the request path's CPUs.
        isolated = []
        if (os.cpu_count() or 1) >= 2:
            try:
                with IsolatedLayout(pg, [on.proc.pid, off.proc.pid, envoy_on.proc.pid, envoy_off.proc.pid], on.proc.pid):
                    for _ in range(5):
                        iso_off = wrk(envoy_off_port, 1, 3)
                        iso_on = wrk(envoy_on_port, 1, 3)
                        isolated.append(iso_on["p99"] / iso_off["p99"])
                isolated.sort()
                print(f"  PostgreSQL and the shipper thread on their own CPU, the request path on the other(s): audit off p99 "
                      f"{iso_off['p99']:.3f} ms, on p99 {iso_on['p99']:.3f} ms")
            except OSError as e:
                isolated = []
                print(f"  isolated layout: n/a (cannot set CPU affinity: {e})")

        # Full Check rate straight at the gRPC port, in chunks; after each, how far the
        # table lags behind the Checks answered.
        start_rows, answered, lags = settled_rows(pg), 0, []
        t0 = time.time()
        for _ in range(4):
            answered += h2load(on_port, body, a.audit_checks // 4)["succeeded"]
            lags.append(answered - (rows_in_log(pg) - start_rows))
        elapsed = time.time() - t0
        full_rate = answered / elapsed
        shipped = rows_in_log(pg) - start_rows
        drained = time.time()
        while rows_in_log(pg) - start_rows < answered and time.time() - drained < 60:
            time.sleep(0.2)
        drain_seconds = time.time() - drained
        print(f"  at full Check rate ({answered / elapsed:.0f} Checks/s for {elapsed:.1f} s): {shipped / elapsed:.0f} rows/s shipped "
              f"while answering; lag after each quarter: {', '.join(str(x) for x in lags)} rows; drained {drain_seconds:.1f} s after")

        # PostgreSQL frozen for 10 s.
        normal = wrk(envoy_on_port, 1, 10)
        pids = postgres_pids(pg)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            frozen = wrk(envoy_on_port, 1, 10)
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        print(f"  PostgreSQL paused (SIGSTOP) 10 s: p99 {frozen['p99']:.3f} ms vs {normal['p99']:.3f} ms normal"
              f" ({frozen['rps']:.0f} req/s, {frozen['errors']} non-2xx)")
    finally:
        envoy_on.stop()
        envoy_off.stop()
        on.stop()
        off.stop()
    print("ratios (targets from issue 5):")
    print(f"  Check p99, audit on / off: {ratios[len(ratios) // 2]:.2f}x (median of 5 rounds, each {', '.join(f'{r:.2f}' for r in ratios)}; "
          f"target <= 1.1)")
    print(f"  control, log off beside an unrelated process burning the same CPU / off: {control_ratios[len(control_ratios) // 2]:.2f}x "
          f"(each {', '.join(f'{r:.2f}' for r in control_ratios)}): what that much background CPU costs on this machine")
    if isolated:
        print(f"  Check p99, audit on / off, PostgreSQL and the shipper on their own CPU: {isolated[len(isolated) // 2]:.2f}x "
              f"(each {', '.join(f'{r:.2f}' for r in isolated)}; the layout of a database on its own host)")
    # The table trails by up to a shipment window (100 ms of records, plus the transaction)
    # by design: a backlog grows when the lag rises quarter after quarter beyond that.
    window = int(full_rate * 0.25)
    growing = all(b > a for a, b in zip(lags, lags[1:])) and lags[-1] > window
    print(f"  backlog at full rate: {'growing' if growing else 'flat'} "
          f"(lag {', '.join(str(x) for x in lags)} rows; a shipment window is ~{window} rows; target: no growing backlog)")
    print(f"  Check p99 with PostgreSQL paused / normal: {frozen['p99'] / normal['p99']:.2f}x (target <= 1.2)")


def openssl_speed_verify():
    out = subprocess.run(["openssl", "speed", "-seconds", "1", "ed25519"], capture_output=True, text=True, timeout=60).stdout
    m = re.search(r"EdDSA \(Ed25519\)\s+\S+s\s+\S+s\s+[\d.]+\s+([\d.]+)", out)
    return float(m.group(1))


def identity_bench(rounds=5):
    """Cached-token latency from one in-process run (blocks alternate with identity on and
    off, so drift hits both). Cold verifications in rounds paired with `openssl speed`, one
    right after the other: this VM's speed drifts by tens of percent between runs, so each
    round gives a ratio and the median ratio is reported."""
    latency = json.loads(subprocess.run([BENCH_IDENTITY, "100000"], capture_output=True, text=True, timeout=300,
                                        check=True).stdout)
    pairs = []
    for _ in range(rounds):
        speed = openssl_speed_verify()
        ours = json.loads(subprocess.run([BENCH_IDENTITY, "cold", "1"], capture_output=True, text=True, timeout=60,
                                         check=True).stdout)["cold_verifications_per_second"]
        pairs.append((ours, speed))
    pairs.sort(key=lambda p: p[0] / p[1])
    ours, speed = pairs[len(pairs) // 2]
    print("identity (in-process, bench-identity):")
    print(f"  Check p50 with identity off: {latency['identity_off_p50_us']:.1f} µs; with a cached token: "
          f"{latency['cached_token_p50_us']:.1f} µs; the identity step alone: {latency['authenticate_cached_p50_us']:.1f} µs")
    print(f"  cold token verifications (signature, claims, parsing): {ours:.0f}/s; openssl speed ed25519 verify in the "
          f"same round: {speed:.0f}/s (median of {rounds} paired rounds)")
    return latency, ours / speed


def stages_bench(rounds=3):
    """Where one Check's time goes in-process (bench-check, the example policy, a cached
    agent token): the lowest p50 of each stage over a few runs, since this VM's speed
    drifts between runs. The generated protobuf decoder is shown as a yardstick."""
    runs = [json.loads(subprocess.run([BENCH_CHECK, os.path.join(h.ROOT, "policies"), "50000"], capture_output=True,
                                      text=True, timeout=300, check=True).stdout) for _ in range(rounds)]
    best = {k: min(r[k] for r in runs) for k in runs[0]}
    print(f"one Check in-process (bench-check, example policy, cached agent token; lowest p50 of {rounds} runs):")
    print("  " + ", ".join(f"{name} {best[key + '_p50_us']:.1f} µs" for name, key in (
        ("bytes to input", "parse_to_input"), ("identity", "identity"), ("evaluation", "eval"),
        ("decision", "decision"), ("response encoding", "encode"), ("whole pipeline", "pipeline"),
        ("whole pipeline with the decision log's spool", "pipeline_audited"))))
    print(f"  (yardstick: swift-protobuf decoding the same CheckRequest {best['protobuf_decode_p50_us']:.1f} µs)")
    print(f"  whole pipeline with this core's L1 and L2 caches made cold before each Check, as between two Checks "
          f"at a low request rate: {best['pipeline_cold_p50_us']:.1f} µs")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5, help="per wrk run")
    ap.add_argument("--checks", type=int, default=200_000, help="direct Checks per throughput run")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of the serve path's arms, measured in turn (one round on a noisy stretch of this shared VM cannot decide a median of 5)")
    ap.add_argument("--memory-checks", type=int, default=1_000_000, help="Checks over which RSS is sampled")
    ap.add_argument("--memory-warmup", type=int, default=1_500_000, help="Checks before RSS is sampled (the allocator's warm-up)")
    ap.add_argument("--audit-checks", type=int, default=100_000, help="Checks at full rate for the decision log")
    ap.add_argument("--only", choices=["serve", "audit", "identity"], help="run one part")
    a = ap.parse_args()
    if a.rounds < 1:
        ap.error("--rounds must be at least 1")
    if a.memory_warmup < 0:
        ap.error(f"--memory-warmup must be at least 0, got {a.memory_warmup}")
    if a.memory_checks < 4:
        ap.error(f"--memory-checks must be at least 4 (RSS is sampled after each quarter), got {a.memory_checks}")

    # The agent registry and a token, as an operator would make them.
    pg = h.Postgres().start()
    try:
        run(a, pg)
    finally:
        pg.remove()


def run(a, pg):
    ident = h.Identity(pg.url(), tempfile.mkdtemp(prefix="bench-identity-"))
    ident.register(AGENT, tools=("search", "repos"))
    token = ident.mint(AGENT, "--ttl", "1h")
    HEADERS.extend(["-H", f"authorization: Bearer {token}"])
    body = tempfile.mktemp(suffix=".grpc")
    framed_check_request(body, token)

    print(f"make bench: loopback, 2 cores, wrk {a.seconds}s per run, Envoy 1.40 with one worker")
    slowdown = sibling_slowdown()
    if slowdown is not None:
        print(f"  this machine: a CPU-bound loop on CPU 0 takes {slowdown:.2f}x as long while CPU 1 is busy "
              "(above 1, the vCPUs contend on the host and every process's CPU time here slows the others)")
    if a.only == "audit":
        return audit_bench(a, pg, body, tempfile.mkdtemp(prefix="bench-spool-"))
    if a.only == "identity":
        return identity_bench()
    # The three arms run side by side and are measured in turns, round after round, so that
    # each round's ratios compare figures taken within seconds of each other: this VM's
    # speed drifts by up to 4x within minutes, which one pass per arm turned into ratios
    # anywhere from 0.8x to 2.5x for the same code.
    allow_port, warden_port = h.free_port(), h.free_port()
    allow = h.Process([ALLOW_SERVER, f"127.0.0.1:{allow_port}"], "allow-server")
    decoding_port = h.free_port()
    decoding = h.Process([ALLOW_SERVER, "--decode", f"127.0.0.1:{decoding_port}"], "allow-server-decoding")
    warden = None
    envoys = []
    try:
        h.wait_for_port(allow_port, proc=allow.proc, what="allow-server")
        h.wait_for_port(decoding_port, proc=decoding.proc, what="allow-server --decode")
        # Issue 3's (c) is the serve path: Warden with the decision log off.
        warden = h.start_warden(warden_port, warden_args(pg, None))
        # (label, Envoy config, authorizer port, authorizer process); the indices 0-3 are
        # what the ratios below read.
        arms = [("(a) Envoy, no ext_authz", "bench-no-authz.yaml", 0, None),
                ("(b) Envoy + always-allow server (same gRPC layer)", "bench-ext-authz.yaml", allow_port, allow),
                ("(c) Envoy + Warden (example policy, agent token)", "bench-ext-authz.yaml", warden_port, warden),
                ("(b') control: always-allow, decoding each request", "bench-ext-authz.yaml", decoding_port, decoding)]
        for _, template, authz_port, _ in arms:
            port = h.free_port()
            envoys.append((h.start_envoy(template, port, 0, authz_port), port))
        for _, port in envoys:
            wrk(port, 1, 1)  # warm up
        rounds = [[None] * len(arms) for _ in range(a.rounds)]
        for r in range(a.rounds):
            for i in (range(len(arms)) if r % 2 == 0 else reversed(range(len(arms)))):
                envoy, port = envoys[i]
                one = wrk(port, 1, a.seconds)
                # CPU per request at 16 connections, of Envoy and of the authorizer: what
                # the 16-connection latency is made of when the CPUs are saturated.
                server = arms[i][3]
                pids = [envoy.proc.pid] + ([server.proc.pid] if server else [])
                before = [process_cpu_seconds(pid) for pid in pids]
                sixteen = wrk(port, 16, a.seconds)
                used = [process_cpu_seconds(pid) - b for pid, b in zip(pids, before)]
                requests = max(1.0, sixteen["rps"] * a.seconds)
                sixteen["cpu_us"] = [1e6 * u / requests for u in used]
                rounds[r][i] = (one, sixteen)
        direct = []
        h2load(allow_port, body, 20_000)
        h2load(warden_port, body, 20_000)
        for r in range(a.rounds):
            pair = {}
            for name, port in ((("allow", allow_port), ("warden", warden_port)) if r % 2 == 0 else (("warden", warden_port), ("allow", allow_port))):
                pair[name] = h2load(port, body, a.checks)
            direct.append(pair)
    finally:
        for envoy, _ in envoys:
            envoy.stop()
        allow.stop()
        decoding.stop()
        if warden:
            warden.stop()

    print(f"through Envoy (wrk; medians of {a.rounds} rounds, the arms measured in turn in each):")
    for i, (label, _, _, _) in enumerate(arms):
        r1 = {k: median([rounds[r][i][0][k] for r in range(a.rounds)]) for k in ("rps", "p50", "p99")}
        r16 = {k: median([rounds[r][i][1][k] for r in range(a.rounds)]) for k in ("rps", "p50", "p99")}
        errors = sum(rounds[r][i][0]["errors"] + rounds[r][i][1]["errors"] for r in range(a.rounds))
        print(f"  {label:<46} 1 conn: {r1['rps']:8.0f} req/s  p50 {r1['p50']:.3f} ms  p99 {r1['p99']:.3f} ms"
              f" | 16 conns: {r16['rps']:8.0f} req/s  p50 {r16['p50']:.3f} ms  p99 {r16['p99']:.3f} ms"
              + (f"  ({errors} non-2xx)" if errors else ""))

    cpu = [[median([rounds[r][i][1]["cpu_us"][k] for r in range(a.rounds)]) for k in range(len(rounds[0][i][1]["cpu_us"]))]
           for i in range(len(arms))]
    print(f"  CPU per request at 16 conns (µs, medians): Envoy {cpu[0][0]:.0f} / {cpu[1][0]:.0f} / {cpu[2][0]:.0f} / {cpu[3][0]:.0f}"
          f" in (a) / (b) / (c) / (b'); always-allow server {cpu[1][1]:.0f}, Warden {cpu[2][1]:.0f},"
          f" always-allow decoding {cpu[3][1]:.0f}")

    # The same with the decision log on, beside it (issue 5 measures what the log adds on its
    # own terms, below).
    spool_root = tempfile.mkdtemp(prefix="bench-spool-")
    warden_port = h.free_port()
    warden = h.start_warden(warden_port, warden_args(pg, os.path.join(spool_root, "c")))
    try:
        through_envoy("    (c) with the decision log on, one pass", "bench-ext-authz.yaml", warden_port, a.seconds)
    finally:
        warden.stop()
    # Memory of the serve path itself over a long run.
    warden_port = h.free_port()
    warden = h.start_warden(warden_port, warden_args(pg, None))
    try:
        h2load(warden_port, body, 20_000)
        rss_fresh = rss_kb(warden.proc.pid)
        # The C allocator's arenas and free lists settle over the first million and a half
        # Checks (a 6M-Check run rose 36.0 -> 37.4 MiB by 1.5M and then stayed within
        # 37.0-38.0 MiB): growth is measured after that, over the next million.
        if a.memory_warmup:
            h2load(warden_port, body, a.memory_warmup)
        samples = [rss_kb(warden.proc.pid)]
        step = max(1, a.memory_checks // 4)
        for _ in range(4):
            h2load(warden_port, body, step)
            samples.append(rss_kb(warden.proc.pid))
    finally:
        warden.stop()

    def added_ratio(conns, quantile, arm=2):
        """Per round, the added latency of arm `arm` (Warden's, or the control's) over
        always-allow's; a round where always-allow's figure is not above (a)'s (tail noise
        on this VM does that at p99) has no ratio."""
        out = []
        for r in range(a.rounds):
            base, allow, other = (rounds[r][i][conns][quantile] for i in (0, 1, arm))
            if allow - base > 0:
                out.append((other - base) / (allow - base))
        return out

    def summary(values, target=None, relation=None):
        goal = f"; target {relation} {target}" if target is not None else ""
        if not values:
            return f"n/a (always-allow's is not above (a)'s in any round{goal})"
        return (f"{median(values):.2f}x (median of {len(values)} rounds, each "
                + ", ".join(f"{v:.2f}" for v in sorted(values)) + f"{goal})")

    print(f"direct Check throughput (h2load, 2 connections x 64 streams, {a.checks:,} Checks per run; medians of {a.rounds} rounds):")
    print(f"  (b) always-allow server: {median([d['allow']['rps'] for d in direct]):9.0f} Checks/s")
    print(f"  (c) Warden:              {median([d['warden']['rps'] for d in direct]):9.0f} Checks/s"
          f"   ({sum(d['warden']['succeeded'] for d in direct)} of {a.rounds * a.checks} answered)")
    print(f"resident memory of Warden (MiB): {rss_fresh / 1024:.1f} after 20,000 Checks, {samples[0] / 1024:.1f} after "
          f"{a.memory_warmup:,} more, then over {a.memory_checks:,} Checks: " + " → ".join(f"{s / 1024:.1f}" for s in samples))
    print("ratios (targets from issue 3):")
    for conns, name in ((0, "1 conn"), (1, "16 conns")):
        print(f"  {name:>8}: Warden's added latency / always-allow's added latency:")
        print(f"            p50 {summary(added_ratio(conns, 'p50'), 1.3, '<=')}")
        print(f"            p99 {summary(added_ratio(conns, 'p99'), 1.5, '<=')}")
        print(f"            for scale, the control (b'), which only decodes the request: p50 {summary(added_ratio(conns, 'p50', 3))}")
    print(f"  direct Check throughput, Warden / always-allow: "
          f"{summary([d['warden']['rps'] / d['allow']['rps'] for d in direct], 0.6, '>=')}")
    growth = (samples[-1] - samples[0]) / 1024
    print(f"  resident memory growth after warm-up: {growth:+.1f} MiB (target: flat)")
    stages_bench()

    if a.only == "serve":
        return
    audit_bench(a, pg, body, spool_root)

    latency, cold_ratio = identity_bench()
    print("ratios (targets from issue 4):")
    print(f"  added by identity with a cached token, p50: {latency['added_p50_us']:.1f} µs (target <= 5 µs)")
    print(f"  cold verifications / openssl speed: {cold_ratio:.2f}x (target >= 0.8)")


if __name__ == "__main__":
    main()
