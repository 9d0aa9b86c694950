"""Seed-data generation speed and memory: ``generate(store, size)`` for 10k and 100k sessions.

Usage: .venv/bin/python bench/sandbox_generate.py [--sizes 10000 100000] [--seed 0] [--profile]
       [--webhooks SIZE [--concurrency 4] [--compact]]

Each size runs in a fresh child process, so its peak RSS is its own (the interpreter and the
imports included; the baseline line shows what those alone take). Target: 100,000 sessions in
under 30 s (wall clock; CPU seconds are shown too, since the machine may be shared).
``--webhooks SIZE`` also delivers the whole history of a SIZE-session store as
signed webhooks to a minimal receiver in another process (which verifies each signature) and
prints events/s.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOW = 1_790_000_000


def one(size: int, seed: int, profile: bool) -> dict[str, object]:
    from stripe_sandbox.generator import generate
    from stripe_sandbox.store import Store

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    store = Store()
    start = time.perf_counter()
    cpu = time.process_time()
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        out = generate(store, size, seed, now=NOW)
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    else:
        out = generate(store, size, seed, now=NOW)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    objects = out["objects"]
    assert isinstance(objects, dict)
    return {"size": size, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
            "peak_rss_mb": round(peak / 1024, 1),
            "baseline_rss_mb": round(base / 1024, 1), "sessions": objects["checkout.session"],
            "events": objects["event"], "objects": sum(objects.values())}


RECEIVER = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
sys.path.insert(0, sys.argv[1])
from indexer.ingest import signatures

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        signatures.verify(body, self.headers["Stripe-Signature"], ("whsec_bench",))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass

srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""


def deliver(size: int, seed: int, concurrency: int, pretty: bool) -> None:
    from stripe_sandbox.generator import generate
    from stripe_sandbox.store import Store
    from stripe_sandbox.webhooks import WebhookSender

    store = Store()
    generate(store, size, seed, now=NOW)
    proc = subprocess.Popen([sys.executable, "-c", RECEIVER, str(ROOT)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        sender = WebhookSender(store, f"http://127.0.0.1:{port}/webhooks/stripe", "whsec_bench",
                               concurrency=concurrency, pretty=pretty)
        start = time.perf_counter()
        sender.start()
        idle = sender.wait_idle(600)
        seconds = time.perf_counter() - start
        sender.stop()
    finally:
        proc.terminate()
        proc.wait()
    st = sender.status()
    print(f"webhooks: {st['delivered']} of {len(store.events)} events delivered in {seconds:.1f} s "
          f"= {st['delivered'] / seconds:.0f} events/s ({concurrency} threads, "
          f"{'pretty' if pretty else 'compact'} JSON; failed "
          f"{st['failed']}, retries {st['retries']}{'' if idle else ', NOT idle'})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="cProfile each run (to stderr)")
    parser.add_argument("--webhooks", type=int, metavar="SIZE",
                        help="deliver a SIZE-session history as webhooks and time it")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--compact", action="store_true", help="compact JSON bodies")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.webhooks:
        deliver(args.webhooks, args.seed, args.concurrency, not args.compact)
    if args.one is not None:
        print(json.dumps(one(args.one, args.seed, args.profile)))
        return 0
    print(f"{'sessions':>9} {'seconds':>8} {'CPU s':>6} {'peak RSS MB':>12} {'base MB':>8} {'events':>9} "
          f"{'objects':>9}  target: 100k sessions < 30 s")
    for size in args.sizes:
        cmd = [sys.executable, __file__, "--one", str(size), "--seed", str(args.seed)]
        if args.profile:
            cmd.append("--profile")
        res = json.loads(subprocess.run(cmd, check=True,
                                        stdout=subprocess.PIPE, text=True).stdout)
        print(f"{res['sessions']:>9} {res['seconds']:>8} {res['cpu_seconds']:>6} "
              f"{res['peak_rss_mb']:>12} "
              f"{res['baseline_rss_mb']:>8} {res['events']:>9} {res['objects']:>9}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
