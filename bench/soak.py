"""Soak: minutes of steady webhook traffic through the production processes while faults are
injected, then the account of every event.

Usage: .venv/bin/python bench/soak.py [--minutes 10] [--rate 10] [--workers 2]
       [--db-restart-every 90] [--db-down 5] [--kill-every 60] [--stripe-rate-limit 2]
       [--stripe-fail-rate 0.1] [--port-base 26000] [--pg-port 26500]

What runs, each in its own process as in production:
- PostgreSQL: a throwaway cluster on a spare port (``tests/pgcluster.py``), stopped at once (as
  by a crash) every ``--db-restart-every`` seconds for ``--db-down`` seconds, then started again;
- the Stripe sandbox (seeded with enough history for the run, in a process of its own) answering
  429 above ``--stripe-rate-limit`` requests/s and 500 to ``--stripe-fail-rate`` of requests;
- the web app under gunicorn exactly as the ``Procfile`` runs it (two workers);
- ``--workers`` ``indexer worker`` processes, one of them killed with SIGKILL every
  ``--kill-every`` seconds (at a random moment around it) and started again.

Traffic: the sandbox's test-mode events, signed as Stripe signs them, posted at ``--rate`` a
second in Stripe's order with some reordering (a window of 20) and 3% sent twice. A delivery
that is not answered 2xx (a 503 while the database is down, a refused connection) is sent
again a few seconds later, as Stripe retries; an event counts as delivered once answered 2xx.

Printed: events delivered (acknowledged), stored, applied, lost (acknowledged but not stored,
or stored but not applied after the drain: must be 0), parked as failed, the freshness of the
index (time from the 2xx answer to the event's effects being committed and queryable, sampled
every 0.25 s: p50, p90, p99, max), the faults injected, Stripe's 429 and 500 answers, and the
resident memory of each process over time (its growth from the first to the last third of the
run says whether it is flat). Exit status 1 when an event is lost.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, func, select  # noqa: E402

from indexer import db, models  # noqa: E402
from indexer.ingest import signatures  # noqa: E402
from tests.pgcluster import Cluster  # noqa: E402

KEY = "sk_test_soak"
SECRET = "whsec_soak"
#: About this many test-mode events per generated checkout session (with its invoices,
#: refunds, disputes, customers and products).
EVENTS_PER_SESSION = 14


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the processes ---------------------------------------------------------------------------


def _serve_sandbox(conn: Any, sessions: int, port: int, rate_limit: float, fail_rate: float) -> None:
    """The sandbox's process: a seeded store served over HTTP; its test-mode events, rendered
    as Stripe sends them, go back to the parent first (all of them: ``/v1/events`` lists only
    the last 30 days)."""
    from stripe_sandbox import generator
    from stripe_sandbox.render import Renderer, version
    from stripe_sandbox.server import SandboxServer
    from stripe_sandbox.store import Store

    store = Store()
    generator.generate(store, size=sessions, seed=5)
    server = SandboxServer(store, host="127.0.0.1", port=port, latency_ms=20, rate_limit=rate_limit,
                           fail_rate=fail_rate, seed=5)
    renderer = Renderer(store)
    conn.send([renderer.event(e, version(e.api_version)) for e in store.ordered("event", live=False)])
    conn.close()
    server.serve_forever()


def start_sandbox(args: argparse.Namespace, sessions: int) -> tuple[Any, str, list[dict[str, Any]]]:
    """The sandbox in a process of its own, and its test-mode events, oldest first."""
    import multiprocessing

    port = args.port_base + 10
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    proc = context.Process(target=_serve_sandbox, name="sandbox", daemon=True,
                           args=(send, sessions, port, args.stripe_rate_limit, args.stripe_fail_rate))
    proc.start()
    send.close()
    events = receive.recv()
    return proc, f"http://127.0.0.1:{port}", events


def start_web(args: argparse.Namespace, database_url: str, logdir: Path) -> tuple[subprocess.Popen, int]:
    port = args.port_base + 1
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    command = line.split(":", 1)[1].strip().replace("0.0.0.0:${PORT:-8000}", f"127.0.0.1:{port}")
    env = {**os.environ, "DATABASE_URL": database_url, "STRIPE_WEBHOOK_SECRET": SECRET, "WEB_CONCURRENCY": "2",
           "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}"}
    out = (logdir / "web.log").open("ab")
    proc = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if request_status(port, "GET", "/healthz") == 200:
                return proc, port
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("gunicorn did not start; see " + str(logdir / "web.log"))


def start_worker(database_url: str, sandbox_url: str, logdir: Path, number: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url, "STRIPE_API_KEY": KEY, "STRIPE_API_BASE": sandbox_url}
    out = (logdir / f"worker{number}.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "indexer.cli", "worker", "--batch-size", "50"],
                            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def children(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found.extend(int(child) for child in text)
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (0 once it has exited)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# --- traffic ---------------------------------------------------------------------------------


def request_status(port: int, method: str, path: str, body: bytes | None = None,
                   headers: dict[str, str] | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def fetch(url: str) -> dict[str, Any]:
    """One GET of the sandbox, waiting out its 429s and injected 500s (reading is not measured)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {KEY}"})
    while True:
        try:
            return json.load(urllib.request.urlopen(request, timeout=30))
        except urllib.error.HTTPError as exc:
            if exc.code != 429 and exc.code < 500:
                raise
            time.sleep(0.3)


@dataclass
class Ledger:
    """What the sender knows: when each event was first acknowledged."""

    acked: dict[str, float] = field(default_factory=dict)
    posts: int = 0
    refused: int = 0
    """Posts answered non-2xx or not answered (each sent again later)."""
    lock: threading.Lock = field(default_factory=threading.Lock)


class Sender:
    """Posts events at a steady rate; a failed post goes back in the queue a few seconds later."""

    def __init__(self, port: int, rate: float, ledger: Ledger, rng: random.Random) -> None:
        self.port, self.rate, self.ledger, self.rng = port, rate, ledger, rng
        self.retries: deque[tuple[float, str, str]] = deque()
        self.retry_lock = threading.Lock()
        self.in_flight = threading.Semaphore(32)
        self.threads: list[threading.Thread] = []

    def post(self, event_id: str, body: str) -> None:
        data = body.encode()
        t = int(time.time())
        headers = {"Stripe-Signature": f"t={t},v1={signatures.sign(data, SECRET, t)}",
                   "Content-Type": "application/json"}
        try:
            status = request_status(self.port, "POST", "/webhooks/stripe", data, headers)
        except OSError:
            status = 0
        with self.ledger.lock:
            self.ledger.posts += 1
            if 200 <= status < 300:
                self.ledger.acked.setdefault(event_id, time.monotonic())
                return
            self.ledger.refused += 1
        with self.retry_lock:
            self.retries.append((time.monotonic() + self.rng.uniform(2.0, 5.0), event_id, body))

    def _send(self, event_id: str, body: str) -> None:
        try:
            self.post(event_id, body)
        finally:
            self.in_flight.release()

    def send(self, event_id: str, body: str) -> None:
        self.in_flight.acquire()
        thread = threading.Thread(target=self._send, args=(event_id, body), daemon=True)
        thread.start()
        self.threads.append(thread)

    def due_retry(self) -> tuple[str, str] | None:
        with self.retry_lock:
            if self.retries and self.retries[0][0] <= time.monotonic():
                _, event_id, body = self.retries.popleft()
                return event_id, body
        return None

    def run(self, queue: list[tuple[str, str]], stop_at: float) -> int:
        """Send ``queue`` at the rate until ``stop_at``; returns how many were sent first-hand."""
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        sent = 0
        while time.monotonic() < stop_at and sent < len(queue):
            retry = self.due_retry()
            if retry is not None:
                self.send(*retry)
            else:
                self.send(*queue[sent])
                sent += 1
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        return sent

    def finish(self, timeout: float) -> None:
        """Send the retries still queued until all are acknowledged (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            retry = self.due_retry()
            if retry is not None:
                self.send(*retry)
                continue
            with self.retry_lock:
                empty = not self.retries
            if empty and all(not t.is_alive() for t in self.threads):
                with self.retry_lock:
                    if not self.retries:
                        return
            time.sleep(0.1)


def traffic(events: list[dict[str, Any]], rng: random.Random) -> list[tuple[str, str]]:
    """Stripe's order with local reordering (windows of 20 shuffled) and 3% duplicates."""
    out: list[tuple[str, str]] = []
    for start in range(0, len(events), 20):
        window = [(e["id"], json.dumps(e)) for e in events[start:start + 20]]
        window += [item for item in window if rng.random() < 0.03]
        rng.shuffle(window)
        out.extend(window)
    return out


# --- observing ---------------------------------------------------------------------------------


class Freshness:
    """Samples every 0.25 s which acknowledged events are applied: delivery-to-queryable times."""

    def __init__(self, engine: Engine, ledger: Ledger) -> None:
        self.engine, self.ledger = engine, ledger
        self.applied_at: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="freshness", daemon=True)

    def _run(self) -> None:
        e = models.events_t.c
        while not self.stop.wait(0.25):
            with self.ledger.lock:
                waiting = [i for i in self.ledger.acked if i not in self.applied_at]
            if not waiting:
                continue
            try:
                with db.transaction(self.engine) as conn:
                    for start in range(0, len(waiting), 1000):
                        chunk = waiting[start:start + 1000]
                        done = conn.execute(select(e.id).where(
                            e.id.in_(chunk), e.status.in_(("done", "skipped", "failed")))).scalars().all()
                        now = time.monotonic()
                        for event_id in done:
                            self.applied_at[event_id] = now
            except Exception:  # noqa: BLE001,S112 - the database is down: sample again later
                continue

    def delays(self) -> list[float]:
        with self.ledger.lock:
            acked = dict(self.ledger.acked)
        return sorted(self.applied_at[i] - acked[i] for i in self.applied_at if i in acked)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(share * len(values)))]


def statuses(engine: Engine) -> dict[str, int]:
    e = models.events_t.c
    with db.transaction(engine) as conn:
        return dict(conn.execute(select(e.status, func.count()).group_by(e.status)).all())


# --- the run ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=10.0, help="webhook deliveries per second")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db-restart-every", type=float, default=90.0)
    parser.add_argument("--db-down", type=float, default=5.0)
    parser.add_argument("--kill-every", type=float, default=60.0)
    parser.add_argument("--stripe-rate-limit", type=float, default=2.0)
    parser.add_argument("--stripe-fail-rate", type=float, default=0.1)
    parser.add_argument("--drain", type=float, default=180.0, help="seconds allowed to apply what is left")
    parser.add_argument("--port-base", type=int, default=26000)
    parser.add_argument("--pg-port", type=int, default=26500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    seconds = args.minutes * 60
    sessions = int(seconds * args.rate / EVENTS_PER_SESSION * 1.2) + 20

    cluster = Cluster(port=args.pg_port)
    cluster.start()
    logdir = cluster.dir / "logs"
    logdir.mkdir()
    database_url = cluster.url
    engine = db.make_engine(database_url)
    db.migrate(engine)
    procs: list[subprocess.Popen] = []
    workers: list[subprocess.Popen] = []
    faults = {"database restarts": 0, "worker kills": 0}
    sandbox = None
    try:
        log(f"sandbox: seeding about {sessions} checkout sessions")
        sandbox, sandbox_url, events = start_sandbox(args, sessions)
        queue = traffic(events, rng)
        log(f"{len(events)} test-mode events to deliver ({len(queue)} posts with duplicates); "
            f"{seconds / 60:g} min at {args.rate:g}/s sends {int(seconds * args.rate)}")
        web, web_port = start_web(args, database_url, logdir)
        procs.append(web)
        workers = [start_worker(database_url, sandbox_url, logdir, i) for i in range(args.workers)]
        ledger = Ledger()
        sender = Sender(web_port, args.rate, ledger, rng)
        freshness = Freshness(engine, ledger)
        freshness.thread.start()

        started = time.monotonic()
        stop_at = started + seconds
        memory: list[tuple[float, dict[str, float]]] = []
        chaos_stop = threading.Event()

        def sample_memory() -> None:
            named = {"web master": web.pid, "sandbox": sandbox.pid}
            for number, child in enumerate(children(web.pid)):
                named[f"web worker {number}"] = child
            for number, worker in enumerate(workers):
                named[f"worker {number}"] = worker.pid
            memory.append((time.monotonic() - started, {name: rss_mb(pid) for name, pid in named.items()}))

        def chaos() -> None:
            next_restart = started + args.db_restart_every * rng.uniform(0.5, 1.0)
            next_kill = started + args.kill_every * rng.uniform(0.5, 1.0)
            next_sample = started
            while not chaos_stop.wait(0.2):
                now = time.monotonic()
                if now >= next_sample:
                    sample_memory()
                    next_sample += max(10.0, seconds / 18)
                if now >= next_restart and now < stop_at - args.db_down - 5:
                    log("database: stopped (immediate)")
                    cluster.stop()
                    time.sleep(args.db_down)
                    cluster.start()
                    log("database: started again")
                    faults["database restarts"] += 1
                    next_restart = time.monotonic() + args.db_restart_every * rng.uniform(0.7, 1.3)
                if now >= next_kill and now < stop_at:
                    victim = rng.randrange(len(workers))
                    workers[victim].kill()
                    workers[victim].wait()
                    workers[victim] = start_worker(database_url, sandbox_url, logdir, victim)
                    faults["worker kills"] += 1
                    log(f"worker {victim}: killed (SIGKILL) and started again")
                    next_kill = time.monotonic() + args.kill_every * rng.uniform(0.7, 1.3)

        chaos_thread = threading.Thread(target=chaos, name="chaos", daemon=True)
        chaos_thread.start()
        sent = sender.run(queue, stop_at)
        chaos_stop.set()
        chaos_thread.join()
        log(f"traffic stopped after {time.monotonic() - started:.0f} s; sending what was refused again")
        sender.finish(timeout=120)
        delivered_ids = set(ledger.acked)
        intended = {event_id for event_id, _ in queue[:sent]}

        log("draining: waiting for the workers to apply what is stored")
        drain_until = time.monotonic() + args.drain
        while time.monotonic() < drain_until:
            with contextlib.suppress(Exception):
                counts = statuses(engine)
                if not counts.get("pending"):
                    break
            time.sleep(1.0)
        sample_memory()
        freshness.stop.set()
        freshness.thread.join()
        elapsed = time.monotonic() - started

        e = models.events_t.c
        with db.transaction(engine) as conn:
            rows = {r.id: r.status for r in conn.execute(select(e.id, e.status))}
            failed_errors = conn.execute(select(e.id, e.last_error).where(e.status == "failed").limit(5)).all()
        stored = set(rows)
        applied = {i for i, status in rows.items() if status in ("done", "skipped")}
        lost_unstored = delivered_ids - stored
        lost_unapplied = {i for i in delivered_ids & stored if rows[i] == "pending"}
        never_acked = intended - delivered_ids
        stripe = fetch(f"{sandbox_url}/sandbox/stats")
        delays = freshness.delays()
    finally:
        if sandbox is not None:
            sandbox.terminate()
        for proc in [*workers, *procs]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*workers, *procs]:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        engine.dispose()
        cluster.remove()

    lost = len(lost_unstored) + len(lost_unapplied)
    print()
    print(f"soak: {elapsed / 60:.1f} min ({seconds / 60:g} min of traffic at {args.rate:g}/s, then the drain)")
    print(f"  posts                 {ledger.posts:>7}  ({ledger.refused} not answered 2xx, sent again)")
    print(f"  events delivered      {len(delivered_ids):>7}  (acknowledged 2xx; {len(never_acked)} sent never acknowledged)")
    print(f"  events stored         {len(stored):>7}")
    print(f"  events applied        {len(applied):>7}  (done or skipped)")
    print(f"  events parked failed  {sum(1 for s in rows.values() if s == 'failed'):>7}")
    print(f"  events lost           {lost:>7}  ({len(lost_unstored)} acknowledged not stored, "
          f"{len(lost_unapplied)} stored not applied)")
    print(f"  freshness (2xx -> queryable, {len(delays)} events): p50 {percentile(delays, 0.5):.2f} s, "
          f"p90 {percentile(delays, 0.9):.2f} s, p99 {percentile(delays, 0.99):.2f} s, max {max(delays, default=0):.2f} s")
    print(f"  faults: {faults['database restarts']} database restarts ({args.db_down:g} s down each), "
          f"{faults['worker kills']} worker kills (SIGKILL); Stripe answered {stripe['rate_limited']} 429s and "
          f"{stripe['injected_failures']} 500s of {stripe['total']} requests")
    for event_id, error in failed_errors:
        print(f"  failed: {event_id}: {(error or '')[:120]}")
    print("  RSS (MB) over time:")
    names = list(memory[0][1]) if memory else []
    print("    " + f"{'t (s)':>6} " + " ".join(f"{n:>13}" for n in names))
    for at, sample in memory:
        print("    " + f"{at:>6.0f} " + " ".join(f"{sample.get(n, 0):>13.1f}" for n in names))
    third = max(1, len(memory) // 3)
    for name in names:
        if name.startswith("worker"):
            continue  # killed and restarted: its memory starts over
        first = [s[name] for _, s in memory[:third] if s.get(name)]
        last = [s[name] for _, s in memory[-third:] if s.get(name)]
        if first and last:
            growth = max(last) - max(first)
            print(f"  RSS {name}: {max(first):.1f} MB in the first third, {max(last):.1f} MB in the last "
                  f"({growth:+.1f} MB)")
    return 1 if lost else 0


if __name__ == "__main__":
    raise SystemExit(main())
