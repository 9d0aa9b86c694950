"""``indexer report enrich``: speed beside a plain csv copy, memory, and Stripe requests.

Usage: .venv/bin/python bench/report_enrich.py [--rows 100000] [--rss-rows 25000 100000]
       [--sessions 2000] [--database-url URL] [--rounds 3] [--part all|indexed|unindexed]

1. All indexed: ``--rows`` rows of a full-column itemized report (version 3's 64 columns; a
   fifth of the payments bought two products, one in twenty was refunded, a few Stripe fees)
   whose payments are all in the index. Enriching must ask Stripe nothing (it runs with no
   client at all) and run at 25% or more of the speed of a plain ``csv`` read-and-write of
   the same file, timed side by side (alternating, ``--rounds`` each, medians).
2. Memory: for each of ``--rss-rows``, the peak RSS of a child process enriching that many
   rows, which must stay flat as the file grows.
3. Nothing indexed: the sandbox's seed history (``--sessions``) served over HTTP, its whole
   history fetched as a report (all id columns) and as the Dashboard's nine default columns,
   each enriched into an empty index: Stripe requests against rows/100 + distinct unindexed
   payments.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from indexer import db  # noqa: E402
from indexer.index import mapping, writes  # noqa: E402
from indexer.reports.enrich import enrich  # noqa: E402
from indexer.stripe_api import StripeAPI  # noqa: E402
from stripe_sandbox.reporting import ITEMIZED_3  # noqa: E402

START = 1782864000  # 2026-07-01 UTC
PRODUCTS = 40


def payment(i: int) -> tuple[str, list[tuple[str, int]]]:
    """Payment ``i``: its PaymentIntent and its (product, amount) lines."""
    lines = [(f"prod_bench{i % PRODUCTS:04d}", 1000 + (i % 7) * 250)]
    if i % 5 == 0:
        lines.append((f"prod_bench{(i * 7 + 3) % PRODUCTS:04d}", 500 + (i % 3) * 100))
    return f"pi_bench{i:010d}", lines


def index_payments(engine: Any, count: int) -> None:
    sources = []
    for i in range(count):
        pi, lines = payment(i)
        session = {"object": "checkout.session", "id": f"cs_test_bench{i:010d}", "livemode": False,
                   "status": "complete", "payment_status": "paid", "payment_intent": pi,
                   "created": START + i * 20, "customer": None,
                   "customer_details": {"email": f"buyer{i}@example.com", "name": f"Buyer {i}"}}
        items = [{"object": "item", "id": f"li_bench{i:010d}_{n}", "quantity": 1 + n,
                  "amount_subtotal": amount, "amount_total": amount, "currency": "usd",
                  "description": product, "price": {"id": f"price_{product}", "product": product}}
                 for n, (product, amount) in enumerate(lines)]
        sources.append(mapping.session_purchase(session, items))
        if len(sources) == 2000:
            with db.transaction(engine) as conn:
                writes.write_sources(conn, sources)
            sources = []
    if sources:
        with db.transaction(engine) as conn:
            writes.write_sources(conn, sources)
    products = [mapping.ProductRow(f"prod_bench{n:04d}", "", False, f"Bench product {n}", True, START)
                for n in range(PRODUCTS)]
    with db.transaction(engine) as conn:
        writes.write_products(conn, products)
    db.refresh_statistics(engine)


def write_report(path: Path, rows: int) -> int:
    """A full itemized.3 report of ``rows`` rows; returns the number of payments it names."""
    columns = list(ITEMIZED_3)
    payments = 0
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        n = 0
        while n < rows:
            i = payments
            payments += 1
            pi, lines = payment(i)
            gross = sum(a for _, a in lines)
            fee = round(gross * 0.029) + 30
            base = {"currency": "usd", "charge_id": f"ch_bench{i:010d}", "payment_intent_id": pi,
                    "customer_email": f"buyer{i}@example.com", "payment_method_type": "card",
                    "card_brand": "visa", "is_link": "false"}
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(START + i * 20))
            entries = [{**base, "balance_transaction_id": f"txn_bench{i:010d}", "created_utc": when,
                        "created": when, "gross": f"{gross / 100:.2f}", "fee": f"{fee / 100:.2f}",
                        "net": f"{(gross - fee) / 100:.2f}", "reporting_category": "charge",
                        "source_id": f"ch_bench{i:010d}", "description": f"Order {i}, \"gift\""}]
            if i % 20 == 0:
                entries.append({**base, "balance_transaction_id": f"txn_benchre{i:08d}",
                                "created_utc": when, "created": when, "gross": f"{-gross / 100:.2f}",
                                "fee": "0.00", "net": f"{-gross / 100:.2f}", "reporting_category": "refund",
                                "source_id": f"re_bench{i:010d}", "description": "REFUND FOR CHARGE"})
            if i % 997 == 0:
                entries.append({"balance_transaction_id": f"txn_benchfee{i:08d}", "created_utc": when,
                                "created": when, "currency": "usd", "gross": "-3.12", "fee": "0.00",
                                "net": "-3.12", "reporting_category": "fee",
                                "description": "Billing - Usage Fee"})
            for entry in entries[: rows - n]:
                writer.writerow([entry.get(c, "") for c in columns])
                n += 1
    return payments


def plain_copy(source: Path, target: Path) -> None:
    with source.open(newline="") as fin, target.open("w", newline="") as fout:
        writer = csv.writer(fout, lineterminator="\n")
        for row in csv.reader(fin):
            writer.writerow(row)


def timed(fn: Any) -> tuple[float, float]:
    """Wall-clock and CPU seconds of ``fn()`` (CPU time is steadier on a shared machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def child_rss(url: str, source: Path, target: Path) -> int:
    """Peak RSS (KiB) of a child process that enriches ``source``."""
    code = ("import sys; from pathlib import Path; from indexer import db; "
            "from indexer.reports.enrich import enrich; "
            "e = db.make_engine(sys.argv[1]); "
            "r = enrich(Path(sys.argv[2]), Path(sys.argv[3]), engine=e); "
            "import resource; print(r.requests, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, url, str(source), str(target)], check=True,
                         capture_output=True, text=True, cwd=ROOT).stdout.split()
    assert out[0] == "0", out
    return int(out[1])


def indexed(args: argparse.Namespace, work: Path) -> None:
    url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    engine = db.make_engine(url)
    db.migrate(engine)
    source = work / "report.csv"
    payments = write_report(source, args.rows)
    started = time.perf_counter()
    index_payments(engine, payments)
    print(f"indexed {payments:,} payments in {time.perf_counter() - started:.1f} s; report "
          f"{args.rows:,} rows x {len(ITEMIZED_3)} columns, {source.stat().st_size / 1e6:.1f} MB")
    plain, ours, requests = [], [], 0
    timed(lambda: enrich(source, work / "warm.csv", engine=engine))
    for _ in range(args.rounds):
        plain.append(timed(lambda: plain_copy(source, work / "plain.csv")))
        result: list[Any] = []
        ours.append(timed(lambda out=result: out.append(enrich(source, work / "enriched.csv", engine=engine))))
        requests += result[0].requests
        matches = result[0].matches
    for i, what in ((0, "wall-clock"), (1, "CPU")):
        p = statistics.median(t[i] for t in plain)
        o = statistics.median(t[i] for t in ours)
        print(f"{what}: plain csv read-and-write {', '.join(f'{t[i]:.2f}' for t in plain)} s "
              f"(median {p:.2f} s, {args.rows / p:,.0f} rows/s); report enrich, all indexed "
              f"{', '.join(f'{t[i]:.2f}' for t in ours)} s (median {o:.2f} s, {args.rows / o:,.0f} "
              f"rows/s) = {p / o:.0%} of the plain copy's speed (target >= 25%)")
    print(f"Stripe requests: {requests} (target 0; enrich ran with no Stripe client); rows by match: "
          f"{dict(matches)}")
    for size in args.rss_rows:
        part = work / f"part-{size}.csv"
        with source.open(newline="") as fin, part.open("w", newline="") as fout:
            for n, line in enumerate(fin):
                if n > size:
                    break
                fout.write(line)
        print(f"peak RSS enriching {size:,} rows: {child_rss(url, part, work / 'rss.csv') / 1024:.0f} MiB")


def unindexed(args: argparse.Namespace, work: Path) -> None:
    from stripe_sandbox.generator import generate
    from stripe_sandbox.server import SandboxServer
    from stripe_sandbox.store import Store

    store = Store(seed=11)
    generate(store, args.sessions, 11)
    server = SandboxServer(store, report_delay=0.0, test_mode_reports=True).start()
    try:
        api = StripeAPI("sk_test_bench", api_base=server.url, rate=10_000)
        types = {t["id"]: t for t in api.report_types()}
        seven = types["balance_change_from_activity.itemized.7"]
        span = (seven["data_available_start"], seven["data_available_end"])
        for label, columns in (("all id columns", list(ITEMIZED_3)), ("Dashboard default columns", None)):
            params: dict[str, Any] = {"interval_start": span[0], "interval_end": span[1]}
            if columns:
                params["columns"] = columns
            run = api.create_report_run(seven["id"], params, idempotency_key=label)
            for _ in range(500):
                run = api.retrieve(f"/v1/reporting/report_runs/{run['id']}")
                if run["status"] == "succeeded":
                    break
                time.sleep(0.02)
            source = work / f"history-{len(columns or [])}.csv"
            with source.open("wb") as out:
                api.download(run["result"]["url"], out)
            engine = db.make_engine(f"sqlite:///{work / f'empty-{len(columns or [])}.db'}")
            db.migrate(engine)
            client = StripeAPI("sk_test_bench", api_base=server.url, rate=10_000)
            kinds = count_requests(client)
            started = time.perf_counter()
            result = enrich(source, work / "out.csv", engine=engine, api=lambda c=client: c)
            took = time.perf_counter() - started
            rows = result.rows_in
            payments = distinct_payments(store, source)
            bound = math.ceil(rows / 100) + payments
            print(f"nothing indexed, {label}: {rows:,} rows, {payments:,} distinct payments -> "
                  f"{result.requests:,} Stripe requests (bound rows/100 + payments = {bound:,}; "
                  f"{'within' if result.requests <= bound else 'OVER'}), listing pages "
                  f"{result.prefetched.pages} (and {result.prefetched.invoice_pages} of invoice "
                  f"payments, {result.prefetched.invoices:,} invoices kept), {took:.1f} s; "
                  f"{dict(result.matches)}")
            explain(kinds, store, source)
            print(f"    requests less one per payment: {result.requests - payments:,} (rows/100 "
                  f"allows {math.ceil(rows / 100):,}; below zero when listings answered many "
                  f"payments at once); the lines above say where each went")
    finally:
        server.stop()


REQUEST_KINDS = (
    ("/line_items", "line-item pages past the 10 items Stripe embeds in a session (a request "
                    "Stripe's API cannot spare: an expanded list holds 10)"),
    ("/v1/checkout/sessions", "Checkout Session lookups (one per PaymentIntent)"),
    ("/v1/invoice_payments?created", "invoice payment listing pages (100 a page, each with its "
                                     "invoice: instead of a lookup per invoice payment)"),
    ("/v1/invoice_payments", "invoice_payments lookups (a PaymentIntent that no session made)"),
    ("/v1/invoices/", "invoices with their first page of lines (one per invoice)"),
    ("/v1/products", "product names the index lacks (100 per request)"),
    ("/v1/balance_transactions/", "single balance transactions (the UTC time of a file whose "
                                  "times are local: its last, for the file's offset from UTC)"),
    ("/v1/balance_transactions", "balance transaction listing pages (100 a page)"),
    ("", "other"),
)


def count_requests(client: StripeAPI) -> dict[str, int]:
    """Count ``client``'s requests by what they ask (its ``get`` wrapped on this one instance)."""
    kinds: dict[str, int] = dict.fromkeys((label for _, label in REQUEST_KINDS), 0)
    real = client.get
    lock = threading.Lock()

    def get(path: str, params: Any = None, *, account: str = "") -> dict[str, Any]:
        asked = f"{path}?created" if params and "created" in params else path
        label = next(label for prefix, label in REQUEST_KINDS if prefix in asked)
        with lock:
            kinds[label] += 1
        return real(path, params, account=account)

    client.get = get  # type: ignore[method-assign]
    return kinds


def explain(kinds: dict[str, int], store: Any, source: Path) -> None:
    """Where the requests went, and the payments that cost more than one (and why)."""
    for label, count in kinds.items():
        if count:
            print(f"    {count:6,}  {label}")
    bare = many = 0
    by_intent = {s.payment_intent: s for s in store.sessions.values() if s.payment_intent}
    invoiced = {i.payment_intent for i in store.invoices.values() if i.payment_intent}
    with source.open(newline="") as f:
        seen = set()
        for row in csv.DictReader(f):
            bt = store.balance_transactions[row["balance_transaction_id"]]
            src = store.find(bt.source) if bt.source else None
            charge = src if src is not None and src.KIND == "charge" else (
                store.charges.get(getattr(src, "charge", None) or "") if src is not None else None)
            intent = charge.payment_intent if charge is not None else None
            if not intent or intent in seen:
                continue
            seen.add(intent)
            session = by_intent.get(intent)
            if session is None and intent not in invoiced:
                bare += 1
            elif session is not None and len(session.lines) > 10:
                many += (len(session.lines) - 11) // 100 + 1
    print(f"    payments that cost a request more: {many} line-item pages of sessions with more "
          f"than 10 items; {bare} bare PaymentIntents (no session, no invoice: asked as both "
          f"unless the file has an invoice_id column that says no invoice)")


def distinct_payments(store: Any, source: Path) -> int:
    """Distinct payments (PaymentIntent, else invoice) behind the report's rows."""
    seen = set()
    with source.open(newline="") as f:
        for row in csv.DictReader(f):
            bt = store.balance_transactions[row["balance_transaction_id"]]
            src = store.find(bt.source) if bt.source else None
            charge = src if src is not None and src.KIND == "charge" else (
                store.charges.get(getattr(src, "charge", None) or "") if src is not None else None)
            if charge is not None:
                seen.add(charge.payment_intent or charge.invoice or charge.id)
    return len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rss-rows", type=int, nargs="*", default=[25_000, 100_000])
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None,
                        help="the index of part 1 (default: a SQLite file in a temporary folder)")
    parser.add_argument("--part", choices=("all", "indexed", "unindexed"), default="all")
    args = parser.parse_args()
    print(f"bench/report_enrich.py on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="bench-report-") as folder:
        work = Path(folder)
        if args.part in ("all", "indexed"):
            indexed(args, work)
        if args.part in ("all", "unindexed"):
            unindexed(args, work)
    print(f"bench peak RSS (this process): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
