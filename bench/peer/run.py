"""Side by side with Stripe's own sync engine: the same sandbox, events, history and PostgreSQL.

Usage: .venv/bin/python bench/peer/run.py [--quick] [--json PATH] [--peers stripe,supabase]
       [--stripe-limit 100] [--backfill-sessions 20000] [--webhook-sessions 1000] [--peer-cap 300] [--npm-dir DIR]
       [--generator wrk|node|wrk,node] [--latencies 0,150] [--skip webhook,freshness,backfill,interrupted]

Installs the peers from the npm registry into a temporary folder (``--npm-dir`` to reuse one),
then for each system (ours, and each peer with and without line items):

1. Webhook path: the test-mode events of one generated history (checkout sessions with several
   line items and one with more than 100, guests, subscription sessions and their invoices,
   invoices paid without Checkout, refunds), 10% of them delivered a second time a few events
   later, POSTed in order, each once, over 16 keep-alive connections by the same load generator
   for every system, with the sandbox at 0 ms and at 150 ms. A burst's generator (``--generator``)
   is by default ``wrk -t1 -c16`` replaying deliveries all signed just before the burst
   (``wrk_burst.py``, ``burst.lua``: first send to last answer timed in wrk, which is stopped as
   soon as the last is answered); ``node`` is the one Node process that signs each delivery as it
   sends it (``sync_engine.cjs post``), the generator of the runs before, which bound every
   system near the same figure; ``wrk,node`` runs each system under both, back to back. A
   "generator ceiling" line is the same burst against a bare Node server that answers 200 at
   once: how far above every system's figure the generator goes, and each row says how much of
   a core its generator used. The steady mode needs a pace and each acknowledgement's time, so it
   keeps the Node generator. Ours runs the ``Procfile``'s own ``web:`` line (gunicorn, as
   configured there, beside one ``indexer worker``); a peer is its ``processWebhook`` behind a
   bare Node HTTP server, which applies the event before it answers. Like for like: the sandbox
   allows every system the same ``--stripe-limit`` requests/s (default 100, Stripe's live-mode
   limit; each client meets 429s above it as it would at Stripe) and our worker runs with
   ``--rate`` at that limit; ``--stripe-limit 0`` lifts the limit for all and unpaces ours.
2. Backfill: the same seeded history served with ``--rate-limit 25 --latency-ms 200``; ours is
   ``indexer backfill``, a peer its ``fullSync``; then the same again killed half way and run
   a second time, to show what an interruption costs.

Each system's answer to "customers of product X" (ours: the ``product_customers`` view; a peer:
the best SQL its tables allow, ``PEER_SQL``) is compared with ``generator.truth`` for every
product, case by case. Prints one table and writes it as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import backfill as ours_backfill  # noqa: E402
from bench import http_load  # noqa: E402
from bench.peer import spec, wrk_burst  # noqa: E402
from stripe_sandbox import generator  # noqa: E402
from stripe_sandbox.store import Store  # noqa: E402
from stripe_sandbox.webhooks import WebhookSender  # noqa: E402

HERE = Path(__file__).resolve().parent
KEY = "sk_test_bench"
SECRET = "whsec_peer_bench"
ACCOUNT = "acct_peerbench"
REQUEST_TIMEOUT_S = 30
#: Requests/s the webhook path's sandbox allows every system (``--stripe-limit``): Stripe's
#: live-mode read limit. Above it each client gets 429s and does what it does against Stripe.
STRIPE_LIMIT = 100.0
#: Our worker's ``--rate`` when the sandbox enforces no limit: unpaced, as the peers are then.
UNPACED = 100_000.0
#: Our worker's ``--threads``: as many Stripe requests in flight as a peer has webhook requests
#: in flight (the load generator's connections), each of which makes its Stripe requests.
CONNECTIONS = 16
PORT_RANGE = range(28010, 28100)
# Databases are named peer_<system>_<this process's id>: two runs never share one.
RUN = os.getpid()
PEERS = {
    "stripe": ("@stripe/sync-engine", "1.0.32"),
    "supabase": ("@supabase/stripe-sync-engine", "0.48.5"),
}
# What a peer's fullSync reads: enough to answer "who bought X" (sessions and their line items,
# invoices and their lines, refunds) and to name products, prices and customers.
PEER_OBJECTS = ["product", "price", "customer", "checkout_sessions", "invoice", "refund"]

# The best a peer's tables allow: a session's line items exist only in ``_raw_data.lines`` when
# ``autoExpandLists`` fetched them (Checkout objects carry none); guests by the lower-cased
# ``customer_details.email``; a session is left out when refunds of its payment intent reach its
# total; an invoice's lines name their product. Its tables do not link a subscription session
# to the invoice it created, so both count as payments.
PEER_SQL = """
WITH refunded AS (
  SELECT _raw_data->>'payment_intent' AS pi, sum((_raw_data->>'amount')::bigint) AS amount
  FROM {schema}.refunds WHERE _raw_data->>'status' = 'succeeded' GROUP BY 1),
rows AS (
  SELECT cs.id AS source, li->'price'->>'product' AS product,
         coalesce(cs._raw_data->>'customer', lower(cs._raw_data->'customer_details'->>'email')) AS who
  FROM {schema}.checkout_sessions cs
  CROSS JOIN LATERAL jsonb_array_elements(coalesce(cs._raw_data->'lines'->'data', '[]'::jsonb)) li
  LEFT JOIN refunded r ON r.pi = cs._raw_data->>'payment_intent'
  WHERE cs._raw_data->>'status' = 'complete'
    AND cs._raw_data->>'payment_status' IN ('paid', 'no_payment_required')
    AND NOT (cs._raw_data->>'livemode')::boolean
    AND NOT (coalesce(r.amount, 0) >= (cs._raw_data->>'amount_total')::bigint
             AND (cs._raw_data->>'amount_total')::bigint > 0)
  UNION ALL
  SELECT i.id, coalesce(l->'pricing'->'price_details'->>'product', l->'price'->>'product',
                        l->'plan'->>'product'), i._raw_data->>'customer'
  FROM {schema}.invoices i
  CROSS JOIN LATERAL jsonb_array_elements(coalesce(i._raw_data->'lines'->'data', '[]'::jsonb)) l
  WHERE i._raw_data->>'status' = 'paid' AND NOT (i._raw_data->>'livemode')::boolean)
SELECT product, who, count(DISTINCT source) FROM rows
WHERE product IS NOT NULL AND who IS NOT NULL GROUP BY 1, 2
"""

# @supabase/stripe-sync-engine keeps typed columns and fetches every session's line items into
# ``checkout_session_line_items`` (price id only: the product comes from its ``prices`` table).
SUPABASE_SQL = """
WITH refunded AS (
  SELECT payment_intent AS pi, sum(amount) AS amount FROM stripe.refunds WHERE status = 'succeeded' GROUP BY 1),
rows AS (
  SELECT cs.id AS source, p.product, coalesce(cs.customer, lower(cs.customer_details->>'email')) AS who
  FROM stripe.checkout_sessions cs
  JOIN stripe.checkout_session_line_items li ON li.checkout_session = cs.id
  JOIN stripe.prices p ON p.id = li.price
  LEFT JOIN refunded r ON r.pi = cs.payment_intent
  WHERE cs.status = 'complete' AND cs.payment_status IN ('paid', 'no_payment_required') AND NOT cs.livemode
    AND NOT (coalesce(r.amount, 0) >= cs.amount_total AND cs.amount_total > 0)
  UNION ALL
  SELECT i.id, coalesce(l->'pricing'->'price_details'->>'product', l->'price'->>'product',
                        l->'plan'->>'product'), i.customer
  FROM stripe.invoices i
  CROSS JOIN LATERAL jsonb_array_elements(coalesce(i.lines->'data', '[]'::jsonb)) l
  WHERE i.status = 'paid' AND NOT i.livemode)
SELECT product, who, count(DISTINCT source) FROM rows
WHERE product IS NOT NULL AND who IS NOT NULL GROUP BY 1, 2
"""
PEER_ANSWER = {"stripe": PEER_SQL.format(schema="stripe"), "supabase": SUPABASE_SQL}
PEER_SESSIONS = {
    "stripe": "SELECT id FROM stripe.checkout_sessions WHERE _raw_data->>'status' = 'complete'",
    "supabase": "SELECT DISTINCT checkout_session FROM stripe.checkout_session_line_items",
}

OURS_SQL = """
SELECT product_id, coalesce(customer, lower(email)), sum(purchases) FROM product_customers
WHERE account = '' AND NOT livemode GROUP BY 1, 2
"""


# -- databases -------------------------------------------------------------------------------

def admin_dsn() -> str:
    url = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    return re.sub(r"^postgres(ql)?(\+psycopg)?://", "postgresql://", url)


def fresh_database(name: str) -> str:
    """Drops and creates ``peer_<name>``; returns its libpq URL."""
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "peer_{name}_{RUN}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "peer_{name}_{RUN}"')
    return admin_dsn().rsplit("/", 1)[0] + f"/peer_{name}_{RUN}"


def free_port() -> int:
    """A port of this bench's range that nothing listens on."""
    import socket

    for port in PORT_RANGE:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit(f"no free port in {PORT_RANGE}")


def drop_database(dsn: str) -> None:
    if os.environ.get("PEER_KEEP"):  # to look at a system's tables after a run
        return
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dsn.rsplit("/", 1)[1]}" WITH (FORCE)')


# -- the truth and the answers ---------------------------------------------------------------

class Truth:
    """What each system must answer, from the store's records, split into the hard cases."""

    def __init__(self, store: Store) -> None:
        self.pairs = generator.truth(store)
        self.refunded = generator.refunded_pairs(store)
        bought = [p for p in generator.purchases(store) if not p.fully_refunded]
        sessions = store.sessions
        invoice_of = {s.id: s.invoice for s in sessions.values() if s.invoice}
        from_session = set(invoice_of.values())
        payments: dict[tuple[str, str], set[str]] = {}
        cases: dict[str, set[tuple[str, str]]] = {
            "guests": set(), "sessions 11-100 lines": set(), "session >100 lines": set(),
            "subscription sessions": set(), "invoices without Checkout": set(),
        }
        for p in bought:
            pair = (p.product, p.customer)
            payments.setdefault(pair, set()).add(invoice_of.get(p.source, p.source))
            if not p.customer.startswith("cus_"):
                cases["guests"].add(pair)
            if p.source.startswith("cs_"):
                lines = len(sessions[p.source].lines)
                if lines > 100:
                    cases["session >100 lines"].add(pair)
                elif lines > 10:
                    cases["sessions 11-100 lines"].add(pair)
                if sessions[p.source].invoice:
                    cases["subscription sessions"].add(pair)
            elif p.source not in from_session:
                cases["invoices without Checkout"].add(pair)
        self.cases = cases
        self.payments = sum(len(v) for v in payments.values())

    def judge(self, answer: dict[tuple[str, str], int]) -> dict[str, Any]:
        """Missed and extra (product, customer) pairs, each hard case's coverage, payments."""
        got = set(answer)
        want = {(prod, who) for prod, whos in self.pairs.items() for who in whos}
        out: dict[str, Any] = {
            "pairs": len(want), "missed": len(want - got), "extra": len(got - want),
            "refunded shown": len(self.refunded & got),
            "payments": sum(answer.values()), "payments true": self.payments,
        }
        for case, pairs in self.cases.items():
            out[case] = f"{len(pairs & got)}/{len(pairs)}"
        out["right"] = out["missed"] == 0 and out["extra"] == 0 and out["payments"] == self.payments
        return out


def answer(dsn: str, sql: str) -> dict[tuple[str, str], int]:
    with psycopg.connect(dsn) as conn:
        return {(prod, who): int(n) for prod, who, n in conn.execute(sql)}


# -- processes -------------------------------------------------------------------------------

def node(mode: str, config: dict[str, Any], npm: Path, sandbox: str | None = None, **popen: Any
         ) -> subprocess.Popen:
    env = {**os.environ, "PEER_NODE_MODULES": str(npm), "STRIPE_API_BASE": sandbox or "http://127.0.0.1:1"}
    preload = [] if mode in ("post", "sink") else ["-r", str(HERE / "stripe_host.cjs")]  # no peer in these
    cmd = ["node", "--max-old-space-size=2048", *preload, str(HERE / "sync_engine.cjs"), mode, json.dumps(config)]
    return subprocess.Popen(cmd, env=env, text=True, **popen)


def node_json(mode: str, config: dict[str, Any], npm: Path, sandbox: str | None = None,
              timeout: float | None = None) -> dict[str, Any]:
    proc = node(mode, config, npm, sandbox, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"timed_out": True}
    if proc.returncode != 0:
        raise RuntimeError(f"node {mode} failed: {err[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def install_peers(npm: Path, peers: list[str]) -> dict[str, str]:
    """``npm install`` each peer (its exact version) into a folder of its own under ``npm`` (they
    need different majors of the ``stripe`` package); returns name -> version installed."""
    versions = {}
    for peer in peers:
        package, version = PEERS[peer]
        folder = npm / peer
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "package.json").exists():
            (folder / "package.json").write_text('{"name": "peer-bench", "private": true}')
        installed = folder / "node_modules" / package / "package.json"
        if not installed.exists():
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", f"{package}@{version}"],
                           cwd=folder, check=True)
        versions[peer] = json.loads(installed.read_text())["version"]
    return versions


def wait_port(port: int, proc: subprocess.Popen, seconds: float = 30) -> None:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def serve(store: Store, **knobs: Any) -> tuple[int, str]:
    """``bench/backfill.py``'s forked sandbox, on a port of this bench's range."""
    return ours_backfill.serve(store, port=free_port(), **knobs)


def sandbox_requests(url: str) -> tuple[int, int]:
    st = ours_backfill.stats(url)
    return st["total"], st["rate_limited"]


# -- the webhook path ------------------------------------------------------------------------

def event_stream(store: Store, path: Path, seed: int = 7) -> dict[str, int]:
    """The test-mode events of the account, oldest first, compact JSON one a line, 10% of them
    again 1 to 20 events later (as Stripe's at-least-once delivery does)."""
    renderer = WebhookSender(store, "http://127.0.0.1:1/", SECRET, pretty=False, livemode=False, connect=False)
    events = [e for e in store.ordered("event") if renderer.wants(e)]
    rng = random.Random(seed)
    bodies = [renderer.render(e).decode() for e in events]
    out: list[str | None] = list(bodies)
    later: dict[int, list[str]] = {}
    for i, body in enumerate(bodies):
        if rng.random() < 0.10:
            later.setdefault(i + rng.randint(1, 20), []).append(body)
    final: list[str] = []
    for i in range(len(out) + 21):
        if i < len(out):
            final.append(out[i])  # type: ignore[arg-type]
        final.extend(later.get(i, []))
    path.write_text("\n".join(final) + "\n")
    types: dict[str, int] = {}
    for e in events:
        types[e.type] = types.get(e.type, 0) + 1
    return {"events": len(events), "deliveries": len(final), "duplicates": len(final) - len(events),
            "checkout.session.completed": types.get("checkout.session.completed", 0),
            "invoice.paid": types.get("invoice.paid", 0)}


def post(url: str, file: Path, npm: Path, cap: float, rate: float | None = None,
         ack_log: Path | None = None) -> dict[str, Any]:
    """The Node generator (``sync_engine.cjs post``), signing each delivery as it sends it: the
    steady mode's (it paces at a rate and logs each acknowledgement), and the burst's with
    ``--generator node``."""
    return node_json("post", {"url": url, "secret": SECRET, "file": str(file), "connections": CONNECTIONS,
                              "timeoutMs": REQUEST_TIMEOUT_S * 1000, "capSeconds": cap, "rate": rate,
                              "ackLog": str(ack_log) if ack_log else None},
                     npm, timeout=cap + REQUEST_TIMEOUT_S + 60)


#: How each burst generator (``--generator``) loads a system; the first is the default.
GENERATORS = {
    "wrk": (f"wrk -t1 -c{CONNECTIONS} (burst.lua): every delivery signed just before the burst, posted in order, "
            "each once, timed first send to last answer"),
    "node": (f"one Node process (sync_engine.cjs post), {CONNECTIONS} keep-alive connections, each delivery "
             "signed as it is sent"),
}


def burst(generator: str, url: str, file: Path, npm: Path, cap: float) -> dict[str, Any]:
    """Every delivery of ``file`` posted once, in order, over 16 connections, by ``generator``."""
    if generator == "wrk":
        with tempfile.TemporaryDirectory(prefix="peer-burst-") as work:
            return wrk_burst.burst(url, file, SECRET, Path(work), cap, CONNECTIONS, REQUEST_TIMEOUT_S)
    return {**post(url, file, npm, cap), "generator": "node"}


def burst_key(latency: float, generator: str) -> str:
    """The webhook table of a burst: the default generator's keeps the name it always had."""
    return f"{latency:g} ms, burst" + ("" if generator == next(iter(GENERATORS)) else f", {generator} generator")


def ceiling(generator: str, events: Path, npm: Path, cap: float) -> dict[str, Any]:
    """The same burst against a bare Node server that answers 200 at once (``sync_engine.cjs
    sink``): how fast ``generator`` can go on this machine, above every system's figure."""
    port = free_port()
    server = node("sink", {"port": port}, npm, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                  start_new_session=True)
    try:
        wait_port(port, server)
        load = burst(generator, f"http://127.0.0.1:{port}/webhooks/stripe", events, npm, cap)
    finally:
        stop(server)
    return {**summarize_load(load), "load": os.getloadavg()[0]}


class Freshness:
    """How long after its event was acknowledged each paid session is in the answer: a thread
    polls the system's tables every 50 ms for the sessions they hold."""

    def __init__(self, dsn: str, sql: str, events: Path) -> None:
        self.dsn, self.sql = dsn, sql
        self.wanted: dict[int, str] = {}
        seen: set[str] = set()
        for i, line in enumerate(events.read_text().splitlines()):
            if '"checkout.session.completed"' not in line:
                continue
            event = json.loads(line)
            obj = event["data"]["object"]
            if event["type"] == "checkout.session.completed" and obj["payment_status"] == "paid" \
                    and obj["id"] not in seen:
                seen.add(obj["id"])
                self.wanted[i] = obj["id"]
        self.first_seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> Freshness:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop.is_set():
                now = time.time() * 1000
                for (sid,) in conn.execute(self.sql):
                    self.first_seen.setdefault(sid, now)
                time.sleep(0.05)

    def figures(self, ack_log: Path) -> dict[str, Any]:
        acked = {i: at for i, at in json.loads(ack_log.read_text())}
        lags = sorted(max(0.0, self.first_seen[sid] - acked[i]) / 1000 for i, sid in self.wanted.items()
                      if i in acked and sid in self.first_seen)
        if not lags:
            return {"fresh_sessions": f"0/{len(self.wanted)}", "fresh_p50_s": None, "fresh_p99_s": None}
        return {"fresh_sessions": f"{len(lags)}/{len(self.wanted)}",
                "fresh_p50_s": round(lags[len(lags) // 2], 2),
                "fresh_p99_s": round(lags[min(len(lags) - 1, int(0.99 * len(lags)))], 2),
                "fresh_max_s": round(lags[-1], 2)}


OURS_SESSIONS_SQL = "SELECT DISTINCT checkout_session FROM purchases WHERE checkout_session IS NOT NULL"


def drain(dsn: str, cap: float) -> float:
    """Seconds until no stored event is pending (the worker has applied everything)."""
    started = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() - started < cap:
            if conn.execute("SELECT count(*) FROM stripe_events WHERE status = 'pending'").fetchone()[0] == 0:
                break
            time.sleep(0.05)
    return time.monotonic() - started


#: The row of a burst with our worker running beside the web, as in production.
ALONG = "ours, worker along"


def webhook_ours(store: Store, events: Path, latency: float, npm: Path, cap: float, truth: Truth,
                 rate: float | None = None, limit: float = STRIPE_LIMIT, along: bool = False,
                 generator: str = "wrk") -> dict[str, Any]:
    """Without ``rate``: the burst is acknowledged with no worker running (the web's own
    figures), then one worker applies it (the worker's); with ``along`` the worker runs
    during the burst, as the ``Procfile`` runs both, and "applied" is from the first
    delivery until nothing is pending. With ``rate``: the worker runs all
    along, and each paid session's freshness is measured. The sandbox allows ``limit``
    requests/s (0: no limit) and the worker paces at that, as it would be run against Stripe."""
    pid, sandbox = serve(store, latency_ms=latency, rate_limit=limit or None)
    dsn = fresh_database("ours")
    url = dsn.replace("postgresql://", "postgresql+psycopg://")
    env = {**os.environ, "DATABASE_URL": url, "STRIPE_WEBHOOK_SECRET": SECRET, "STRIPE_API_KEY": KEY,
           "STRIPE_API_BASE": sandbox}
    venv = ROOT / ".venv" / "bin"
    subprocess.run([str(venv / "indexer"), "migrate"], env=env, check=True, capture_output=True)
    port = free_port()
    # The Procfile's own web line, bound to a free port; the access log goes to /dev/null.
    web_line = http_load.procfile_web(ROOT / "Procfile", port).replace("--access-logfile -", "--access-logfile /dev/null")
    web = subprocess.Popen(["bash", "-c", f"exec {web_line}"], cwd=ROOT,
                           env={**env, "PATH": f"{venv}:{env.get('PATH', '')}"},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    workers: list[subprocess.Popen] = []

    def worker() -> None:  # the Procfile's worker line, paced at the sandbox's limit
        workers.append(subprocess.Popen([str(venv / "indexer"), "worker", "--rate", f"{limit or UNPACED:g}",
                                         "--threads", str(CONNECTIONS)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True))

    ack_log = events.with_suffix(".acks")
    out: dict[str, Any] = {}
    try:
        wait_port(port, web)
        if rate:
            worker()
            with Freshness(dsn, OURS_SESSIONS_SQL, events) as fresh:
                started = time.monotonic()
                load = post(f"http://127.0.0.1:{port}/webhooks/stripe", events, npm, cap, rate, ack_log)
                applied = time.monotonic() + drain(dsn, cap) - started
            out.update(fresh.figures(ack_log))
        elif along:
            worker()
            load = burst(generator, f"http://127.0.0.1:{port}/webhooks/stripe", events, npm, cap)
            applied = load["seconds"] + drain(dsn, cap * 3)
        else:
            load = burst(generator, f"http://127.0.0.1:{port}/webhooks/stripe", events, npm, cap)
            worker()
            applied = load["seconds"] + drain(dsn, cap * 3)
            out["worker_eps"] = round(load["sent"] / (applied - load["seconds"]), 1)
        with psycopg.connect(dsn) as conn:
            stored, failed = conn.execute("SELECT count(*), count(*) FILTER (WHERE status = 'failed') "
                                          "FROM stripe_events").fetchone()
        requests, limited = sandbox_requests(sandbox)
        judged = truth.judge(answer(dsn, OURS_SQL))
    finally:
        for w in workers:
            stop(w)
        stop(web)
        ours_backfill.stop(pid)
    drop_database(dsn)
    return {**summarize_load(load), "applied_s": round(applied, 2),
            "applied_eps": round(load["sent"] / applied, 1), "stripe_requests": requests, "429s": limited,
            "stored": stored, "failed": failed, **out, **judged}


def webhook_peer(peer: str, expand: bool, store: Store, events: Path, latency: float, npm: Path,
                 cap: float, truth: Truth, spec_path: Path, rate: float | None = None,
                 limit: float = STRIPE_LIMIT, generator: str = "wrk") -> dict[str, Any]:
    """A peer applies each event before it answers: acknowledged is applied. The sandbox allows
    it ``limit`` requests/s (0: no limit), as it allows ours."""
    pid, sandbox = serve(store, latency_ms=latency, rate_limit=limit or None)
    dsn = fresh_database(peer)
    config = peer_config(peer, dsn, spec_path, expand)
    node_json("migrate", config, npm / peer, sandbox, timeout=120)
    port = free_port()
    server = node("serve", {**config, "port": port}, npm / peer, sandbox, stdout=subprocess.DEVNULL,
                  stderr=None if os.environ.get("PEER_DEBUG") else subprocess.DEVNULL, start_new_session=True)
    ack_log = events.with_suffix(".acks")
    out: dict[str, Any] = {}
    try:
        wait_port(port, server)
        target = f"http://127.0.0.1:{port}/webhooks/stripe"
        if rate:
            sql = PEER_SESSIONS[peer] + (" AND _raw_data ? 'lines'" if expand and peer == "stripe" else "")
            with Freshness(dsn, sql, events) as fresh:
                load = post(target, events, npm, cap, rate, ack_log)
                time.sleep(0.2)
            out.update(fresh.figures(ack_log))
        else:
            load = burst(generator, target, events, npm, cap)
        requests, limited = sandbox_requests(sandbox)
        judged = truth.judge(answer(dsn, PEER_ANSWER[peer]))
    finally:
        stop(server)
        ours_backfill.stop(pid)
    drop_database(dsn)
    return {**summarize_load(load), "applied_s": round(load["seconds"], 2),
            "applied_eps": round(load["statuses"].get("200", 0) / load["seconds"], 1),
            "stripe_requests": requests, "429s": limited, **out, **judged}


def summarize_load(load: dict[str, Any]) -> dict[str, Any]:
    ok = load["statuses"].get("200", 0)
    return {"deliveries": load["total"], "sent": load["sent"], "acked": ok,
            "not_acked": load["total"] - ok, "timeouts": load["timeouts"],
            "ack_eps": round(ok / load["lastAck"], 1) if load["lastAck"] else 0.0,
            "ack_p50_ms": round(load["p50"] or 0, 1), "ack_p99_ms": round(load["p99"] or 0, 1),
            "capped": load["sent"] < load["total"] or load["timeouts"] > 0,
            "generator": load.get("generator", "node"),
            # the generator's CPU over the burst, in % of one core: near 100 it was the bound
            "generator_cpu_pct": round(100 * load["cpuSeconds"] / load["seconds"])
            if load.get("cpuSeconds") is not None and load["seconds"] else None}


def peer_config(peer: str, dsn: str, spec_path: Path, expand: bool) -> dict[str, Any]:
    return {"package": PEERS[peer][0], "databaseUrl": dsn, "specPath": str(spec_path), "key": KEY,
            "account": ACCOUNT, "secret": SECRET, "autoExpandLists": expand, "poolMax": 10}


# -- backfill --------------------------------------------------------------------------------

def timed(cmd: list[str], env: dict[str, str], cap: float, kill_after: float | None = None
          ) -> tuple[float, bool, str]:
    """Runs ``cmd``; killed (its whole process group, SIGKILL) after ``kill_after`` or ``cap``
    seconds. Returns seconds, whether it was killed, and its output."""
    with tempfile.TemporaryFile("w+") as out:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        limit = min(cap, kill_after) if kill_after else cap
        try:
            proc.wait(limit)
            killed = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            killed = True
        seconds = time.monotonic() - started
        out.seek(0)
        text = out.read()
    if not killed and proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed: {text[-2000:]}")
    return seconds, killed, text


def backfill_ours(store: Store, truth: Truth, cap: float, kill_after: float | None) -> dict[str, Any]:
    pid, sandbox = serve(store, latency_ms=200, rate_limit=25)
    dsn = fresh_database("ours")
    env = {**os.environ, "DATABASE_URL": dsn.replace("postgresql://", "postgresql+psycopg://"),
           "STRIPE_API_KEY": KEY, "STRIPE_API_BASE": sandbox}
    venv = ROOT / ".venv" / "bin"
    try:
        subprocess.run([str(venv / "indexer"), "migrate"], env=env, check=True, capture_output=True)
        cmd = [str(venv / "indexer"), "backfill", "--concurrency", "8"]
        out = backfill_runs(cmd, env, sandbox, cap, kill_after)
        out.update(truth.judge(answer(dsn, OURS_SQL)))
    finally:
        ours_backfill.stop(pid)
    drop_database(dsn)
    return out


def backfill_peer(peer: str, expand: bool, store: Store, truth: Truth, cap: float, kill_after: float | None,
                  npm: Path, spec_path: Path) -> dict[str, Any]:
    pid, sandbox = serve(store, latency_ms=200, rate_limit=25)
    dsn = fresh_database(peer)
    config = {**peer_config(peer, dsn, spec_path, expand), "objects": PEER_OBJECTS, "workers": 20, "rate": 25}
    try:
        node_json("migrate", config, npm / peer, sandbox, timeout=120)
        before, _ = sandbox_requests(sandbox)
        env = {**os.environ, "PEER_NODE_MODULES": str(npm / peer), "STRIPE_API_BASE": sandbox}
        cmd = ["node", "--max-old-space-size=2048", "-r", str(HERE / "stripe_host.cjs"),
               str(HERE / "sync_engine.cjs"), "backfill", json.dumps(config)]
        out = backfill_runs(cmd, env, sandbox, cap, kill_after, before)
        out.update(truth.judge(answer(dsn, PEER_ANSWER[peer])))
    finally:
        ours_backfill.stop(pid)
    drop_database(dsn)
    return out


def backfill_runs(cmd: list[str], env: dict[str, str], sandbox: str, cap: float, kill_after: float | None,
                  before: int = 0) -> dict[str, Any]:
    """One run (capped), or with ``kill_after``: killed then run again to the end."""
    if kill_after is None:
        seconds, killed, _ = timed(cmd, env, cap)
        requests, limited = sandbox_requests(sandbox)
        return {"seconds": round(seconds, 1), "finished": not killed, "stripe_requests": requests - before,
                "429s": limited}
    first, killed, _ = timed(cmd, env, cap, kill_after)
    mid, _ = sandbox_requests(sandbox)
    second, killed2, _ = timed(cmd, env, cap)
    requests, limited = sandbox_requests(sandbox)
    return {"seconds": round(first + second, 1), "finished": not killed2, "killed_at_s": round(first, 1),
            "finish_s": round(second, 1), "stripe_requests": requests - before,
            "requests_after_kill": requests - mid, "429s": limited}


# -- the table -------------------------------------------------------------------------------

def ratios(results: dict[str, Any]) -> list[str]:
    """Ours against the best peer, beside the issue's targets. A peer with line items is one
    that fetches them (``+lines``, and @supabase/stripe-sync-engine always does)."""
    out = []
    for key, rows in results["webhook"].items():
        ours = rows["ours"]
        mine = {k: v for k, v in rows.items() if k.startswith("ours")}
        peers = {k: v for k, v in rows.items() if k not in mine}
        if not peers:  # --peers '': ours alone
            out.append(f"{key}: ours alone: applied {ours['applied_eps']} ev/s"
                       + (f", freshness p99 {ours['fresh_p99_s']} s (target < 2 s)" if "fresh_p99_s" in ours else ""))
            continue
        with_lines = {k: v for k, v in peers.items() if "+lines" in k or "supabase" in k}
        best_ack = max(peers.items(), key=lambda kv: kv[1]["ack_eps"])
        line = (f"{key}: ack {ours['ack_eps'] / max(best_ack[1]['ack_eps'], 0.1):.2f}x the best peer's "
                f"({best_ack[0]}; target >= 1.25x at 0 ms)")
        if with_lines:
            best = max(with_lines.items(), key=lambda kv: kv[1]["applied_eps"])
            for name, r in mine.items():
                line += (f"; {name} applied {r['applied_eps'] / max(best[1]['applied_eps'], 0.1):.2f}x the best peer "
                         f"with line items ({best[0]}; target >= 3x at 0 ms, >= 10x at 150 ms)")
        if "fresh_p99_s" in ours:
            line += f"; our freshness p99 {ours['fresh_p99_s']} s (target < 2 s)"
        out.append(line)
    whole = results["backfill"].get("whole")
    if whole:
        ours = whole["ours"]
        for name, r in whole.items():
            if name == "ours":
                continue
            sooner = r["seconds"] / ours["seconds"]
            fewer = r["stripe_requests"] / max(ours["stripe_requests"], 1)
            out.append(f"backfill vs {name}: {'>=' if not r['finished'] else ''}{sooner:.1f}x sooner "
                       f"{'(it did not finish) ' if not r['finished'] else ''}with {fewer:.0f}x fewer requests "
                       f"(targets >= 10x, >= 50x); 429s ours {ours['429s']}, theirs {r['429s']}")
    return out


def table(results: dict[str, Any]) -> str:
    lines = [f"machine: {results['machine']}; load average {results['load_start']:.1f} at the start",
             f"command: {results['command']}", f"how the peers ran: {results['how_peers_ran']}",
             f"like-for-like: {results['like_for_like']}",
             f"load: {results['load_generator']}",
             *(f"generator ceiling ({g}): the same burst against a bare Node server answering 200 at once: "
               f"{c['ack_eps']} ev/s, p50 {c['ack_p50_ms']} ms, p99 {c['ack_p99_ms']} ms, "
               f"{c['acked']}/{c['deliveries']} answered 200, the generator at {c['generator_cpu_pct']}% of a core, "
               f"load {c['load']:.1f}"
               for g, c in results.get("ceiling", {}).items()),
             "(capped) = some requests went unanswered for 30 s or the run hit --peer-cap; "
             "payments = distinct payments summed over (product, customer) pairs, against the truth; "
             "ours' applied = deliveries / (acknowledging, then applying), the worker's own rate in brackets; "
             f"{ALONG!r}: the worker runs during the burst, as the Procfile runs both; "
             "gen CPU % = the load generator's CPU over the run, in % of one core (near 100: it was the bound)"]
    cols = ["system", "ack ev/s", "ack p50 ms", "ack p99 ms", "applied ev/s", "fresh p99 s", "Stripe req", "429s",
            "missed", "extra", "payments", "guests", "11-100 lines", ">100 lines", "right", "gen CPU %", "load"]
    stream = results.get("stream", {})
    for key, rows in results["webhook"].items():
        gen = next(iter(rows.values()), {}).get("generator", "node")
        lines.append(f"\nwebhook path, sandbox latency {key}: {stream['deliveries']} deliveries "
                     f"({stream['duplicates']} duplicates), {CONNECTIONS} connections, {gen} generator")
        lines.append(" | ".join(cols))
        for name, r in rows.items():
            lines.append(" | ".join(str(x) for x in (
                name + (" (capped)" if r["capped"] else ""), r["ack_eps"], r["ack_p50_ms"], r["ack_p99_ms"],
                f"{r['applied_eps']} (worker {r['worker_eps']})" if "worker_eps" in r else r["applied_eps"],
                r.get("fresh_p99_s", "-"), r["stripe_requests"], r.get("429s", "-"),
                r["missed"], r["extra"],
                f"{r['payments']}/{r['payments true']}", r["guests"], r["sessions 11-100 lines"],
                r["session >100 lines"], "yes" if r["right"] else "NO", r.get("generator_cpu_pct", "-"),
                f"{r['load']:.1f}")))
    cols = ["system", "run", "seconds", "finished", "Stripe req", "429s", "missed", "extra", "payments", "right",
            "load"]
    for run, rows in results["backfill"].items():
        lines.append(f"\nbackfill {run}, {results['backfill_sessions']} sessions, sandbox --rate-limit 25 "
                     "--latency-ms 200")
        lines.append(" | ".join(cols))
        for name, r in rows.items():
            extra = f" (killed at {r['killed_at_s']} s, then {r['finish_s']} s, {r['requests_after_kill']} req)" \
                if "killed_at_s" in r else ""
            lines.append(" | ".join(str(x) for x in (
                name, run + extra, r["seconds"], r["finished"], r["stripe_requests"], r["429s"], r["missed"],
                r["extra"], f"{r['payments']}/{r['payments true']}", "yes" if r["right"] else "NO",
                f"{r['load']:.1f}")))
    results["ratios"] = ratios(results)
    lines += ["", "ratios:", *results["ratios"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="300 sessions everywhere, caps of 60 s")
    parser.add_argument("--peers", default="stripe", help="comma-separated: stripe, supabase")
    parser.add_argument("--backfill-sessions", type=int, default=20000)
    parser.add_argument("--webhook-sessions", type=int, default=1000)
    parser.add_argument("--latencies", default="0,150")
    parser.add_argument("--fresh-rate", type=float, default=200.0, help="events/s of the steady run")
    parser.add_argument("--stripe-limit", type=float, default=STRIPE_LIMIT,
                        help="requests/s the webhook path's sandbox allows every system (Stripe's live-mode "
                             "limit); our worker runs with --rate at it; 0: no limit for anyone, our worker unpaced")
    parser.add_argument("--peer-cap", type=float, default=300.0, help="seconds a peer's run may take")
    parser.add_argument("--generator", default=next(iter(GENERATORS)),
                        help="comma-separated burst load generators: wrk (pre-signed, the default), node (signs "
                             "as it sends, the generator of the runs before); with both, each system meets "
                             "both back to back; the steady mode always uses node")
    parser.add_argument("--skip", default="", help="comma-separated: webhook, freshness, backfill, interrupted")
    parser.add_argument("--npm-dir", help="install the peers here (default: a temporary folder)")
    parser.add_argument("--json", default=str(Path(tempfile.gettempdir()) / "peer_bench.json"))
    args = parser.parse_args()
    if args.quick:
        args.backfill_sessions = args.webhook_sessions = 300
        args.peer_cap = 60.0
    peers = [p for p in args.peers.split(",") if p]
    skip = set(args.skip.split(","))
    generators = [g for g in args.generator.split(",") if g]
    if not generators or set(generators) - set(GENERATORS):
        parser.error(f"--generator: comma-separated, of {', '.join(GENERATORS)}")
    tmp = tempfile.TemporaryDirectory(prefix="peer-bench-")
    npm = Path(args.npm_dir or Path(tmp.name) / "npm")
    versions = install_peers(npm, peers)
    spec_path = spec.write(Path(tmp.name) / "spec.json")
    results: dict[str, Any] = {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}, {subprocess.check_output(['node', '--version'], text=True).strip()}",
        "command": " ".join(sys.argv), "peers": versions,
        "how_peers_ran": (
            "require()d from an npm install in a temporary folder; migrations with openApiSpecPath "
            "(a spec made from fixtures3.json); the stripe package preloaded (stripe_host.cjs) to add "
            "{host, port, protocol: http} of the sandbox; stripeAccountId given; webhook: "
            "StripeSync.webhook.processWebhook(rawBody, signature) behind a bare Node http server, 200 "
            "after it resolves; backfill: fullSync(" + json.dumps(PEER_OBJECTS) + ", true, 20 workers, "
            "25 req/s); '+lines' = autoExpandLists: true; pg pool of 10; @supabase/stripe-sync-engine: "
            "new StripeSync({...autoExpandLists: true}), its runMigrations, processWebhook, and "
            "syncBackfill({object}) for each object in turn (it has no rate or worker option)"),
        "like_for_like": (
            f"webhook path: every system faced the same sandbox, limited to {args.stripe_limit:g} requests/s "
            f"(429 above it, which each client retries as against Stripe); our worker ran with --rate "
            f"{args.stripe_limit:g}" if args.stripe_limit else
            f"webhook path: no request limit for any system; our worker unpaced (--rate {UNPACED:g})"
        ) + f" and --threads {CONNECTIONS} (a peer has up to {CONNECTIONS} webhook requests, each making its "
            "Stripe requests, in flight); backfill: sandbox --rate-limit 25 for everyone, ours at its default pacing, the peers at "
            "theirs (fullSync rate 25)",
        "load_generator": "; ".join(f"burst ({g}): {GENERATORS[g]}" for g in generators) + (
            f"; steady {args.fresh_rate:g}/s: {GENERATORS['node']}, paced, logging each acknowledgement"
            if "freshness" not in skip else ""),
        "stripe_limit": args.stripe_limit,
        "webhook": {}, "ceiling": {}, "backfill": {}, "backfill_sessions": args.backfill_sessions,
        "load_start": os.getloadavg()[0],
    }
    # @supabase/stripe-sync-engine fetches every session's line items whatever autoExpandLists
    # says (which only pages invoice lines past the first 10): one run of it, with the option on.
    systems = [(p, expand) for p in peers for expand in ((True,) if p == "supabase" else (False, True))]

    def label(p: str, expand: bool) -> str:
        return f"{PEERS[p][0]} {versions[p]}" + (" +lines" if expand and p == "stripe" else "")

    if "webhook" not in skip:
        store = Store()
        generator.generate(store, args.webhook_sessions, 0)
        truth = Truth(store)
        events = Path(tmp.name) / "events.jsonl"
        results["stream"] = event_stream(store, events)
        print(f"stream: {results['stream']}", flush=True)
        print(results["like_for_like"], flush=True)
        for gen in generators:
            results["ceiling"][gen] = ceiling(gen, events, npm, args.peer_cap)
            print(f"generator ceiling, {gen}: {results['ceiling'][gen]}", flush=True)
        for latency in [float(x) for x in args.latencies.split(",")]:
            # Each system meets every generator back to back, so a change of the machine's load
            # between systems does not read as a difference between generators.
            bursts = {gen: burst_key(latency, gen) for gen in generators}
            for key in bursts.values():
                results["webhook"][key] = {}
            names = ["ours", ALONG, *(label(p, expand) for p, expand in systems)]
            for name, (p, expand) in zip(names, [(None, False), (None, True), *systems], strict=True):
                for gen, key in bursts.items():
                    if p is None:
                        row = webhook_ours(store, events, latency, npm, args.peer_cap, truth, None,
                                           args.stripe_limit, along=expand, generator=gen)
                    else:
                        row = webhook_peer(p, expand, store, events, latency, npm, args.peer_cap, truth,
                                           spec_path, None, args.stripe_limit, gen)
                    results["webhook"][key][name] = {**row, "load": os.getloadavg()[0]}
                    print(f"webhook {key} {name}: {results['webhook'][key][name]}", flush=True)
            if "freshness" in skip:
                continue
            key = f"{latency:g} ms, steady {args.fresh_rate:g}/s"
            rows: dict[str, Any] = {}
            rows["ours"] = {**webhook_ours(store, events, latency, npm, args.peer_cap, truth, args.fresh_rate,
                                          args.stripe_limit), "load": os.getloadavg()[0]}
            print(f"webhook {key} ours: {rows['ours']}", flush=True)
            for p, expand in systems:
                rows[label(p, expand)] = {**webhook_peer(p, expand, store, events, latency, npm, args.peer_cap,
                                                         truth, spec_path, args.fresh_rate, args.stripe_limit),
                                          "load": os.getloadavg()[0]}
                print(f"webhook {key} {label(p, expand)}: {rows[label(p, expand)]}", flush=True)
            results["webhook"][key] = rows
        del store
    if "backfill" not in skip:
        store = Store()
        generator.generate(store, args.backfill_sessions, 0)
        truth = Truth(store)
        runs = ["whole"] + ([] if "interrupted" in skip else ["interrupted"])
        for run in runs:
            rows = {}
            whole = results["backfill"].get("whole", {})
            kill = None
            if run == "interrupted":
                kill = max(1.0, whole.get("ours", {}).get("seconds", 10) / 2)
            rows["ours"] = {**backfill_ours(store, truth, args.peer_cap * 4, kill), "load": os.getloadavg()[0]}
            print(f"backfill {run} ours: {rows['ours']}", flush=True)
            for p, expand in systems:
                if run == "interrupted":
                    kill = max(1.0, min(args.peer_cap, whole.get(label(p, expand), {}).get("seconds", 20)) / 2)
                rows[label(p, expand)] = {**backfill_peer(p, expand, store, truth, args.peer_cap, kill, npm, spec_path),
                                          "load": os.getloadavg()[0]}
                print(f"backfill {run} {label(p, expand)}: {rows[label(p, expand)]}", flush=True)
            results["backfill"][run] = rows
    print(table(results))
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {args.json}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
