"""A sandbox holding a burst of paid checkout sessions, served over HTTP (used by the benches).

Usage: python bench/sandbox_burst.py --sessions 5000 --port 12190 [--latency-ms 150] [--rate-limit 25]

The sessions are created in the last few minutes, one to three line items each (some with more than
ten, so extra ``/line_items`` pages are exercised), as a real sales burst would be. Prints
``ready <url>`` once it serves.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stripe_sandbox import billing  # noqa: E402
from stripe_sandbox.server import SandboxServer  # noqa: E402
from stripe_sandbox.store import Store  # noqa: E402


def fill(store: Store, sessions: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    now = int(time.time())
    start = now - 300
    ctx = billing.Ctx(store, (False, None), now=start - 3600)
    products = [billing.create_product(ctx, f"Product {i}") for i in range(50)]
    prices = [billing.create_price(ctx, p, "usd", rng.randrange(500, 20000)) for p in products]
    for i in range(sessions):
        at = start + (300 * i) // max(1, sessions)
        ctx = billing.Ctx(store, (False, None), now=at)
        count = 12 if i % 50 == 0 else rng.randint(1, 3)
        lines = [(rng.choice(prices).id, rng.randint(1, 3), f"item {j}") for j in range(count)]
        session = billing.create_session(ctx, "payment", lines)
        billing.complete_session(ctx, session, email=f"Buyer{i % 997}@Example.com", name=f"Buyer {i % 997}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--port", type=int, default=12190)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--rate-limit", type=float, default=None)
    args = parser.parse_args()
    store = Store()
    fill(store, args.sessions)
    server = SandboxServer(store, host="127.0.0.1", port=args.port, latency_ms=args.latency_ms,
                           rate_limit=args.rate_limit)
    server.start()
    print(f"ready {server.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
