"""Backfill against a rate-limited, slow sandbox: requests vs the minimum, rate, misses, memory.

Usage: .venv/bin/python bench/backfill.py [--sessions 20000] [--rate-limit 25] [--latency-ms 200]
       [--concurrency 8] [--rss-sizes 10000 100000] [--database-url URL] [--skip-rate]
       [--variants process inline public ungated] [--variant-sessions 100000] [--rounds 2]

1. Rate: seeds a sandbox with ``--sessions`` checkout sessions (plus their invoices, refunds...),
   serves it from a forked child process with ``--rate-limit`` requests/s and ``--latency-ms``
   per request, runs the real ``indexer backfill`` command against a fresh database and prints
   the requests it made against the minimum for the data (one request per page of 100 of each
   list, plus the pages of line items past the embedded first 10), the request rate achieved as
   a share of the limit, and the objects missed (the index against ``generator.truth`` and the
   store's paid sessions and invoices). A second, in-process pass with the database writes
   switched off shows what the client alone sustains against the same limit.
2. Memory: for each of ``--rss-sizes``, the peak RSS of ``indexer backfill`` (no latency, no
   limit), which must stay flat as the history grows.
3. Machinery (``--variants``): what each piece of the backfill's speed machinery is worth, side by
   side on one sandbox of ``--variant-sessions`` sessions, unthrottled (no latency, no limit):
   a full backfill into a fresh database per run, each in a child process of its own, variants
   alternating over ``--rounds`` rounds. ``process`` is the backfill as shipped (pages written by
   ``page_writer.ProcessWriter``, responses read through ``indexer.stripe_sdk``'s fast path);
   ``inline`` writes pages in the fetching threads (``InlineWriter``); ``public`` uses no private
   SDK name at all (the SDK's public ``raw_request`` and its own debug log); ``ungated`` keeps the
   fast path but the SDK's own debug log (which formats each body, logged or not).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stripe_sandbox.generator import generate, truth  # noqa: E402
from stripe_sandbox.server import SandboxServer  # noqa: E402
from stripe_sandbox.store import Store  # noqa: E402

KEY = "sk_test_bench"
EMBEDDED = 10
PAGE = 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(store: Store, port: int | None = None, **knobs: Any) -> tuple[int, str]:
    """Fork a child serving ``store`` (on ``port``, else any free one); returns its pid and base
    address. Shared with ``bench/peer/run.py``: a forked child serves a large store at once,
    with no copy and no pickling."""
    port = port or free_port()
    pid = os.fork()
    if pid == 0:  # the child: serve until killed
        try:
            SandboxServer(store, port=port, **knobs).serve_forever()
        finally:
            os._exit(0)
    url = f"http://127.0.0.1:{port}"
    for _ in range(400):
        try:
            urllib.request.urlopen(url + "/sandbox/stats", timeout=1).read()
            return pid, url
        except OSError:
            time.sleep(0.05)
    raise SystemExit("sandbox did not start")


def stats(url: str) -> dict[str, Any]:
    """The sandbox's counters; ``total`` counts only API requests (``/v1``), not these."""
    body = json.loads(urllib.request.urlopen(url + "/sandbox/stats", timeout=10).read())
    body["total"] = sum(n for family, n in body["requests"].items() if " /v1" in family)
    return body


def stop(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    os.waitpid(pid, 0)


def minimum_requests(store: Store) -> dict[str, int]:
    """Pages of 100 per list, plus line-item pages past the embedded first 10."""

    def mine(rec: Any) -> bool:
        return not rec.live and rec.account is None

    def pages(n: int) -> int:
        return max(1, -(-n // PAGE))

    def extra(lines: int) -> int:
        return -(-(lines - EMBEDDED) // PAGE) if lines > EMBEDDED else 0

    sessions = [s for s in store.sessions.values() if mine(s) and s.status == "complete"]
    paid_sessions = [s for s in sessions if s.payment_status in ("paid", "no_payment_required")]
    invoices = [i for i in store.invoices.values() if mine(i) and i.status == "paid"]
    return {
        "products": pages(sum(1 for p in store.products.values() if mine(p))),
        "sessions": pages(len(sessions)),
        "session line items": sum(extra(len(s.lines)) for s in paid_sessions),
        "invoices": pages(len(invoices)),
        "invoice lines": sum(extra(len(i.lines)) for i in invoices),
        "refunds": pages(sum(1 for r in store.refunds.values() if mine(r))),
        "disputes": pages(sum(1 for d in store.disputes.values() if mine(d))),
    }


def run_cli(
    url: str, database_url: str, concurrency: int, rate: float | None
) -> tuple[float, int, float, str]:
    """``indexer backfill`` as a child: seconds, peak RSS (KiB, its own plus its writer
    process's), CPU seconds and its summary line."""
    cmd = [sys.executable, "-m", "indexer.cli", "backfill", "--concurrency", str(concurrency)]
    if rate:
        cmd += ["--rate", str(rate)]
    return run_child(cmd, url, database_url)


def run_child(cmd: list[str], url: str, database_url: str) -> tuple[float, int, float, str]:
    """``cmd`` as a child against a freshly migrated database: seconds, peak RSS (KiB, with its
    writer process), CPU seconds (with its writer's) and its last line of output."""
    env = {**os.environ, "STRIPE_API_KEY": KEY, "STRIPE_API_BASE": url, "DATABASE_URL": database_url}
    subprocess.run([sys.executable, "-m", "indexer.cli", "migrate"], env=env, check=True,
                   capture_output=True)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started, cpu = time.monotonic(), _children_cpu()
        child = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True)
        peak = 0
        while child.poll() is None:
            peak = max(peak, _hwm(child.pid) + sum(_hwm(pid) for pid in _children(child.pid)))
            time.sleep(0.2)
        seconds, cpu = time.monotonic() - started, _children_cpu() - cpu
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"backfill failed: {err.read().strip()[-2000:]}")
        lines = out.read().strip().splitlines()
        return seconds, peak, cpu, lines[-1] if lines else ""


def _children_cpu() -> float:
    """User + system CPU seconds of the children waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _children(pid: int) -> list[int]:
    """Processes ``pid`` started (the backfill's page writer)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(c) for c in children.read().split()]
    except OSError:
        return []


def _hwm(pid: int) -> int:
    """The child's peak RSS (KiB) since its ``exec``: ``VmHWM``. Not ``ru_maxrss``, which
    also counts the moment between fork and exec, when the child still maps this process
    and the whole seeded store."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def index_vs_truth(database_url: str, store: Store) -> dict[str, int]:
    from sqlalchemy import text

    from indexer import db

    engine = db.make_engine(database_url)
    with engine.begin() as conn:
        sources = {r[0] for r in conn.execute(text("SELECT DISTINCT source_id FROM purchases "
                                                   "WHERE account = '' AND NOT livemode"))}
        pairs = conn.execute(text("SELECT product_id, customer, email FROM product_customers "
                                  "WHERE account = '' AND NOT livemode")).all()
    engine.dispose()
    got: dict[str, set[str]] = {}
    for product, customer, email in pairs:
        got.setdefault(product, set()).add(customer or (email or "").lower())
    want = truth(store)
    missed_pairs = sum(len(want[p] - got.get(p, set())) for p in want)
    extra_pairs = sum(len(got[p] - want.get(p, set())) for p in got)
    paid_sessions = {s.id for s in store.sessions.values() if not s.live and s.account is None
                     and s.status == "complete" and s.payment_status in ("paid", "no_payment_required")
                     and not s.invoice and s.lines}
    paid_invoices = {i.id for i in store.invoices.values() if not i.live and i.account is None
                     and i.status == "paid" and i.lines}
    return {
        "sessions missed": len(paid_sessions - sources),
        "invoices missed": len(paid_invoices - sources),
        "customer pairs missed": missed_pairs,
        "customer pairs extra": extra_pairs,
    }


def fetch_only(url: str, concurrency: int) -> tuple[int, float]:
    """The same streams with writes switched off, in process: the client's own ceiling."""
    from indexer import db
    from indexer.history import backfill
    from indexer.stripe_api import StripeAPI

    with tempfile.TemporaryDirectory() as tmp:
        engine = db.make_engine(f"sqlite:///{tmp}/f.db")
        db.migrate(engine)
        api = StripeAPI(KEY, api_base=url)
        job = backfill.Backfill(engine, api, concurrency=concurrency, writes_in_process=True)
        ranges = backfill.full_ranges(api, job, backfill.EPOCH, int(time.time()))
        result = job.run([(replace(s, write=lambda conn, items: None), a, b) for s, a, b in ranges])
        engine.dispose()
    return result.requests, result.seconds


def rate_bench(args: argparse.Namespace) -> None:
    store = Store()
    started = time.monotonic()
    summary = generate(store, args.sessions, 0)
    print(f"seeded {args.sessions} sessions in {time.monotonic() - started:.1f} s: "
          f"{json.dumps({k: v for k, v in summary.items() if isinstance(v, int)})}")
    minimum = minimum_requests(store)
    least = sum(minimum.values())
    print(f"minimum requests: {least} ({', '.join(f'{k} {v}' for k, v in minimum.items())})")
    pid, url = serve(store, latency_ms=args.latency_ms, rate_limit=args.rate_limit)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            database_url = emptied(args.database_url) if args.database_url else f"sqlite:///{tmp}/bench.db"
            seconds, rss, cpu, line = run_cli(url, database_url, args.concurrency, args.client_rate)
            served = stats(url)
            print(line)
            in_run = re.search(r"(\d+) requests in ([\d.]+) s", line)
            if in_run:
                print(f"rate inside the run: {int(in_run[1]) / float(in_run[2]):.1f} req/s = "
                      f"{100 * int(in_run[1]) / float(in_run[2]) / args.rate_limit:.0f}% of the limit "
                      "(first request to last commit, as the command reports it)")
            made = served["total"] - served["rate_limited"]
            print(f"requests made: {served['total']} ({served['rate_limited']} answered 429) = "
                  f"{served['total'] / least:.3f} x the minimum; {made / least:.3f} x without the 429s")
            print(f"rate: {served['total'] / seconds:.1f} req/s over {seconds:.1f} s = "
                  f"{100 * served['total'] / seconds / args.rate_limit:.0f}% of the {args.rate_limit:g}/s limit"
                  f" (whole command, start-up and database writes included); peak RSS {rss / 1024:.0f} MiB;"
                  f" CPU {cpu:.1f} s ({100 * cpu / seconds:.0f}% of one core)")
            print(f"missed: {json.dumps(index_vs_truth(database_url, store))}")
        before = stats(url)["total"]
        requests, fetch_seconds = fetch_only(url, args.concurrency)
        after = stats(url)
        print(f"fetch only (writes off): {after['total'] - before} requests in {fetch_seconds:.1f} s = "
              f"{100 * (after['total'] - before) / fetch_seconds / args.rate_limit:.0f}% of the limit")
    finally:
        stop(pid)


def emptied(database_url: str) -> str:
    """A PostgreSQL database given to the bench is emptied first (its ``public`` schema)."""
    from sqlalchemy import create_engine, text

    from indexer.config import normalize_database_url

    url = normalize_database_url(database_url)
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    return url


def rss_bench(args: argparse.Namespace) -> None:
    for size in args.rss_sizes:
        store = Store()
        generate(store, size, 0)
        pid, url = serve(store)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                database_url = emptied(args.database_url) if args.database_url else f"sqlite:///{tmp}/rss.db"
                seconds, rss, _, line = run_cli(url, database_url, args.concurrency, 100000.0)
                print(f"{size} sessions: {line}; {seconds:.1f} s; peak RSS of `indexer backfill` "
                      f"{rss / 1024:.0f} MiB (with its writer process)")
        finally:
            stop(pid)
        del store


VARIANTS = {
    "process": "as shipped: a writer process, the SDK's fast path",
    "inline": "pages written in the fetching threads",
    "public": "the SDK's public raw_request and its own debug log",
    "ungated": "the fast path with the SDK's own debug log",
}


def variant_child(name: str, concurrency: int) -> None:
    """In a child: one full backfill, unthrottled, as variant ``name``; prints its summary."""
    from indexer import db, stripe_sdk
    from indexer.history import backfill
    from indexer.stripe_api import StripeAPI

    if name in ("public", "ungated"):
        stripe_sdk.ungate_debug_log()
    if name == "public":
        stripe_sdk.FAST = False
    engine = db.make_engine(os.environ["DATABASE_URL"])
    api = StripeAPI(KEY, api_base=os.environ["STRIPE_API_BASE"], rate=100000.0)
    job = backfill.Backfill(engine, api, concurrency=concurrency, writes_in_process=name == "inline")
    result = job.run(backfill.plan(api, job, backfill.Request()))
    engine.dispose()
    print(result.summary())


def variants_bench(args: argparse.Namespace) -> None:
    store = Store()
    started = time.monotonic()
    generate(store, args.variant_sessions, 0)
    print(f"machinery: seeded {args.variant_sessions} sessions in {time.monotonic() - started:.1f} s; "
          f"unthrottled, --concurrency {args.concurrency}, {args.rounds} round(s)")
    pid, url = serve(store)
    seconds: dict[str, list[float]] = {name: [] for name in args.variants}
    cpus: dict[str, list[float]] = {name: [] for name in args.variants}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_ in range(args.rounds):
                order = args.variants if round_ % 2 == 0 else args.variants[::-1]
                for name in order:
                    database_url = emptied(args.database_url) if args.database_url else f"sqlite:///{tmp}/{name}{round_}.db"
                    cmd = [sys.executable, str(Path(__file__).resolve()), "--variant-child", name,
                           "--concurrency", str(args.concurrency)]
                    took, rss, cpu, line = run_child(cmd, url, database_url)
                    seconds[name].append(took)
                    cpus[name].append(cpu)
                    missed = index_vs_truth(database_url, store)
                    print(f"  round {round_ + 1} {name:<8} {took:6.1f} s, CPU {cpu:5.1f} s, peak RSS "
                          f"{rss / 1024:.0f} MiB, missed {sum(missed.values())}: {line}")
    finally:
        stop(pid)
    base = min(seconds[args.variants[0]])
    for name in args.variants:
        best = min(seconds[name])
        print(f"{name:<8} {best:6.1f} to {max(seconds[name]):6.1f} s ({best / base:.2f} x "
              f"{args.variants[0]}'s best), CPU {min(cpus[name]):.1f} to {max(cpus[name]):.1f} s: {VARIANTS[name]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20000)
    parser.add_argument("--rate-limit", type=float, default=25.0)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--client-rate", type=float, help="`indexer backfill --rate` (default: its own)")
    parser.add_argument("--rss-sizes", type=int, nargs="*", default=[10000, 100000])
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--skip-rate", action="store_true")
    parser.add_argument("--variants", nargs="*", choices=sorted(VARIANTS), default=[],
                        help="compare these variants of the machinery (the first is the yardstick)")
    parser.add_argument("--variant-sessions", type=int, default=100000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variant-child", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant_child:
        variant_child(args.variant_child, args.concurrency)
        return
    if not args.skip_rate:
        rate_bench(args)
    if args.rss_sizes:
        rss_bench(args)
    if args.variants:
        variants_bench(args)


if __name__ == "__main__":
    main()
