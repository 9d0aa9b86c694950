"""What keeping the rollups costs bulk writes: the same writes with the rollups on and off, side by side.

Usage: BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/rollup_cost.py
       [--sessions 100000] [--rows 1000000] [--products 10000] [--big 200000] [--rounds 2] [--skip PARTS]
       [--before REVISION] [--prefix NAME]

Builds databases beside the given one, migrated to the newest revision: ``bench_cost_on``, and
``bench_cost_off`` where the rollup triggers on ``purchases`` (those whose function is named
``rollups...``) are disabled; with ``--before REVISION`` also ``bench_cost_before``, migrated
only that far (the rollups as they were: before and after in the same run). At the newest
revision the writes defer the rollups and refresh them once they are done, as a backfill does
(``indexer.index.rollups``; the refresh is timed with the writes); an older revision settles
each transaction's rows as it commits. The same writes then
go to every database, one after the other in turn, each on a connection of its own, so all see
the same load of the machine. Each part prints, per database, the CPU time of its PostgreSQL
backend (read from ``/proc``: the database server must run on this machine) and the wall time,
and each ratio to rollups off (the target: <= 1.25x).

1. ``backfill``: a sandbox history of ``--sessions`` checkout sessions (``stripe_sandbox``'s
   generator, rendered as the API renders them and mapped by ``indexer.index.mapping``), written
   as the backfill's page writer writes them: pages of 100 sources sorted by payment, each page
   in one transaction through ``writes.write_sources`` (statistics refreshed as the rows double,
   ``db.GrowthStatistics``), then every refund in pages of 100 through ``writes.write_refunds``,
   then (newest revision) the refresh of the deferred rollups.
   Wall time includes the Python side of the writes, the same with rollups on or off; the
   backend's CPU is what the rollups add to the database.
2. ``load``: the 1M-row load of ``bench/query_api.py`` (one ``INSERT ... SELECT``, ``prod_big``
   with ``--big`` buyers) into emptied tables, ``--rounds`` times (newest revision: deferred
   and refreshed after each, as a bulk import in SQL would). Then the floor: the rollup
   tables filled from the loaded ``purchases`` in one set-based pass each (rolled back), the
   least that writing their rows costs, whatever keeps them.

After each part the rollups of each database that keeps them are compared with a recomputation
from ``purchases`` (at an older revision, ``product_customer_totals`` too).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Connection, Engine, create_engine, inspect, text  # noqa: E402

from bench.query_api import LOAD_PURCHASES, T0, sa_url  # noqa: E402
from indexer import db  # noqa: E402
from indexer.index import mapping, rollups, writes  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
ROLLUP_TRIGGERS = """
SELECT t.tgname FROM pg_trigger t JOIN pg_proc f ON f.oid = t.tgfoid
WHERE t.tgrelid = 'purchases'::regclass AND NOT t.tgisinternal AND f.proname LIKE 'rollups%'
ORDER BY t.tgname
"""
#: Each rollup table against the aggregate over ``purchases`` it keeps (rows in one, not the other).
CHECKS = {
    "product_customer_totals": """
        SELECT product_id, account, livemode, customer_key, currency, COUNT(*), COUNT(DISTINCT payment_key),
               SUM(quantity), SUM(amount_total), SUM(amount_refunded), MIN(purchased_at), MAX(purchased_at)
        FROM purchases WHERE product_id IS NOT NULL AND NOT refunded
        GROUP BY product_id, account, livemode, customer_key, currency""",
    "product_totals": """
        SELECT product_id, account, livemode, currency, COUNT(DISTINCT customer_key), SUM(n), SUM(quantity),
               SUM(amount_total), SUM(amount_refunded), MIN(first), MAX(last)
        FROM (SELECT product_id, account, livemode, currency, customer_key, COUNT(DISTINCT payment_key) AS n,
                     SUM(quantity) AS quantity, SUM(amount_total) AS amount_total,
                     SUM(amount_refunded) AS amount_refunded, MIN(purchased_at) AS first, MAX(purchased_at) AS last
              FROM purchases WHERE product_id IS NOT NULL AND NOT refunded
              GROUP BY product_id, account, livemode, currency, customer_key) c
        GROUP BY product_id, account, livemode, currency""",
    "product_customer_counts": """
        SELECT product_id, account, livemode, COUNT(DISTINCT customer_key)
        FROM purchases WHERE product_id IS NOT NULL AND NOT refunded
        GROUP BY product_id, account, livemode""",
    "product_daily_totals": """
        SELECT product_id, account, livemode, currency, purchased_at - purchased_at % 86400,
               COUNT(DISTINCT payment_key), COUNT(DISTINCT customer_key), SUM(quantity), SUM(amount_total),
               SUM(amount_refunded)
        FROM purchases WHERE product_id IS NOT NULL AND NOT refunded
        GROUP BY product_id, account, livemode, currency, purchased_at - purchased_at % 86400""",
}
KEPT = {
    "product_customer_totals": "product_id, account, livemode, customer_key, currency, lines, purchases, quantity, "
                               "amount_total, amount_refunded, first_purchased_at, last_purchased_at",
    "product_totals": "product_id, account, livemode, currency, customers, purchases, quantity, amount_total, "
                      "amount_refunded, first_purchased_at, last_purchased_at",
    "product_customer_counts": "product_id, account, livemode, customers",
    "product_daily_totals": "product_id, account, livemode, currency, day_start, purchases, customers, quantity, "
                            "amount_total, amount_refunded",
}


class Side:
    """One database, written on one connection (one backend) whose CPU time is read from /proc."""

    def __init__(self, admin_url: str, name: str, rollups: bool, revision: str = "head") -> None:
        self.name = name
        self.rollups = rollups
        self.label = f"rollups {'on' if rollups else 'off'}" + ("" if revision == "head" else f" at {revision}")
        admin = create_engine(sa_url(admin_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        self.url = sa_url(admin_url).rsplit("/", 1)[0] + "/" + name
        # One pooled connection: every transaction (and each statistics refresh) runs on one backend.
        self.engine: Engine = db.make_engine(self.url, pool_size=1)
        db.migrate(self.engine, revision)
        with db.transaction(self.engine) as conn:
            triggers = [name for (name,) in conn.execute(text(ROLLUP_TRIGGERS))]
            if not triggers:
                sys.exit("no rollup trigger found on purchases")
            if not rollups:
                for trigger in triggers:
                    conn.execute(text(f"ALTER TABLE purchases DISABLE TRIGGER {trigger}"))
        with self.engine.connect() as conn:
            #: Tables of an older revision that the indexer no longer writes, refreshed with the others.
            self.older_tables = [t for t in ("product_customer_totals",) if inspect(conn).has_table(t)]
        #: Bulk writes defer the rollups and refresh them after (``indexer.index.rollups``), as the backfill does.
        self.defers = rollups and revision == "head"
        self.pid = db.read(self.engine, lambda conn: conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        self.cpu = 0.0
        self.wall = 0.0

    def backend_cpu(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime

    def timed(self, work: Callable[[], None]) -> None:
        cpu, wall = self.backend_cpu(), time.perf_counter()
        work()
        self.wall += time.perf_counter() - wall
        self.cpu += self.backend_cpu() - cpu

    def reset(self) -> None:
        self.cpu = self.wall = 0.0


def history(sessions: int) -> tuple[list[list[Any]], list[list[Any]]]:
    """Pages of 100 mapped sessions (sorted by payment, as the backfill writes them) and of refunds."""
    from stripe_sandbox import render
    from stripe_sandbox.generator import generate
    from stripe_sandbox.store import Store

    store = Store()
    generate(store, size=sessions, seed=13)
    renderer, version = render.Renderer(store), render.version("2025-03-31.basil")
    pages: list[list[Any]] = [[]]
    for session in store.ordered("checkout.session", live=False):
        obj = renderer.render(session, version, {"line_items": {}})
        if obj.get("status") != "complete":
            continue
        if len(pages[-1]) == 100:
            pages.append([])
        pages[-1].append(mapping.session_purchase(obj, obj["line_items"]["data"]))
    pages = [sorted(page, key=lambda s: (s.account, s.payment_key)) for page in pages]
    refunds = [mapping.refund_row(renderer.render(r, version), livemode=False)
               for r in store.ordered("refund", live=False)]
    return pages, [refunds[i : i + 100] for i in range(0, len(refunds), 100)]


def backfill(sides: list[Side], sessions: int) -> None:
    started = time.perf_counter()
    pages, refund_pages = history(sessions)
    rows = sum(len(s.rows) for page in pages for s in page)
    print(f"\n1. backfill: {sum(map(len, pages)):,} complete sessions ({rows:,} purchase rows) in {len(pages):,} pages, "
          f"{sum(map(len, refund_pages)):,} refunds (history made and mapped in {time.perf_counter() - started:.0f} s)")
    growth = {side.name: db.GrowthStatistics(side.engine) for side in sides}

    def page_of(side: Side, write: Callable[[Connection, list[Any]], None], items: list[Any]) -> Callable[[], None]:
        def run() -> None:
            with db.transaction(side.engine) as conn:
                db.commit_without_waiting_for_disk(conn)
                if side.defers:
                    rollups.defer(conn)
                write(conn, items)
            refreshed = growth[side.name].next_refresh
            growth[side.name].wrote(len(items))
            if side.older_tables and growth[side.name].next_refresh != refreshed:
                db.refresh_statistics(side.engine, side.older_tables)
        return run

    work = [(writes.write_sources, page) for page in pages] + [(writes.write_refunds, page) for page in refund_pages]
    for n, (write, items) in enumerate(work):
        for side in sides[n % len(sides):] + sides[: n % len(sides)]:
            side.timed(page_of(side, write, items))
    refresh(sides)
    report(sides)


def load(sides: list[Side], args: argparse.Namespace) -> None:
    print(f"\n2. load: {args.rows:,} rows in one INSERT ... SELECT into emptied tables, {args.rounds} round(s)")
    params = {"t0": T0, "big": args.big, "products": args.products, "rows": args.rows}
    for side in sides:
        side.reset()
    for n in range(args.rounds):
        for side in sides[n % len(sides):] + sides[: n % len(sides)]:
            with db.transaction(side.engine) as conn:
                kept = [t for t in db.WRITTEN_TABLES if t.startswith("product_") and inspect(conn).has_table(t)]
                kept += side.older_tables
                conn.execute(text(f"TRUNCATE purchases, {', '.join(kept)}"))
            db.refresh_statistics(side.engine)

            def run(side: Side = side) -> None:
                with db.transaction(side.engine) as conn:
                    if side.defers:
                        rollups.defer(conn)
                    conn.execute(text(LOAD_PURCHASES), params)
            side.timed(run)
        refresh(sides)
    off = next(side for side in sides if not side.rollups)
    load_cpu = off.cpu / args.rounds
    report(sides)
    floor(off, load_cpu)


def refresh(sides: list[Side]) -> None:
    """The deferred rollups computed again (timed with the writes), as a backfill does when it ends."""
    for side in sides:
        if side.defers:
            side.timed(lambda side=side: print(f"   {side.label}: the rollups of {rollups.refresh(side.engine):,} "
                                               f"products refreshed after the writes", end=""))
            print(f" ({side.cpu:.1f} s of database CPU so far)")


#: The rollup rows of the whole of ``purchases`` written in one pass each, from the aggregates
#: they keep: what writing them costs a load at the least, whatever keeps them.
FILLS = {
    "product_totals": f"""
        INSERT INTO product_totals (product_id, account, livemode, currency, customers, purchases, quantity,
            amount_total, amount_refunded, first_purchased_at, last_purchased_at)
        {CHECKS["product_totals"]}""",
    "product_customer_counts": f"""
        INSERT INTO product_customer_counts (product_id, account, livemode, customers)
        {CHECKS["product_customer_counts"]}""",
    "product_daily_totals": """
        INSERT INTO product_daily_totals (product_id, account, livemode, day, currency, day_start, purchases,
            customers, quantity, amount_total, amount_refunded)
        SELECT product_id, account, livemode,
               to_char(to_timestamp(purchased_at - purchased_at % 86400) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), currency,
               purchased_at - purchased_at % 86400, COUNT(DISTINCT payment_key), COUNT(DISTINCT customer_key),
               SUM(quantity), SUM(amount_total), SUM(amount_refunded)
        FROM purchases WHERE product_id IS NOT NULL AND NOT refunded
        GROUP BY product_id, account, livemode, currency, purchased_at - purchased_at % 86400""",
}


def floor(off: Side, load_cpu: float) -> None:
    """The least an exact rollup can add to the load: its rows written from the loaded ``purchases``
    in one set-based pass per table (in the database with rollups off, then rolled back)."""
    print("   the rollup rows alone, each table filled in one pass from the loaded purchases (rolled back):")
    total = 0.0
    with off.engine.connect() as conn:
        for table, fill in FILLS.items():
            if not inspect(conn).has_table(table):
                continue
            cpu = off.backend_cpu()
            conn.execute(text(fill))
            spent = off.backend_cpu() - cpu
            total += spent
            print(f"     {table:<26} database CPU {spent:6.1f} s = {spent / max(load_cpu, 1e-9):.2f}x of the load's")
        conn.rollback()
    print(f"     all of them: {total:.1f} s: the least keeping them can cost is {1 + total / max(load_cpu, 1e-9):.2f}x")


def report(sides: list[Side]) -> None:
    off = next(side for side in sides if not side.rollups)
    for side in sides:
        ratio = "" if side is off else (f"   = {side.cpu / max(off.cpu, 1e-9):.2f}x CPU, "
                                         f"{side.wall / max(off.wall, 1e-9):.2f}x wall of rollups off (target <= 1.25x)")
        print(f"   {side.label:<32} database CPU {side.cpu:7.1f} s   wall {side.wall:7.1f} s{ratio}")
    for side in sides:
        side.reset()


def check(side: Side) -> None:
    with side.engine.connect() as conn:
        for table, aggregate in CHECKS.items():
            if not inspect(conn).has_table(table):
                continue
            differ = conn.execute(text(
                f"SELECT COUNT(*) FROM ((SELECT {KEPT[table]} FROM {table} EXCEPT {aggregate}) "
                f"UNION ALL ({aggregate} EXCEPT SELECT {KEPT[table]} FROM {table})) d")).scalar_one()
            rows = conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
            print(f"   {side.label}: {table} {rows:,} rows, {differ} differ from a recomputation")
            if differ:
                sys.exit(f"{table} differs from a recomputation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: backfill,load")
    parser.add_argument("--before", help="also an index migrated only to this revision (the rollups before)")
    parser.add_argument("--prefix", default="bench_cost",
                        help="names of the databases made: PREFIX_off, PREFIX_on, PREFIX_before (several runs at once "
                             "on one server need a prefix each)")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    admin = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not admin:
        sys.exit("set BENCH_DATABASE_URL to a PostgreSQL URL (databases bench_cost_on/off are created beside it)")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    sides = [Side(admin, f"{args.prefix}_off", rollups=False), Side(admin, f"{args.prefix}_on", rollups=True)]
    if args.before:
        sides.append(Side(admin, f"{args.prefix}_before", rollups=True, revision=args.before))
    if "backfill" not in skip:
        backfill(sides, args.sessions)
        for side in sides[1:]:
            check(side)
    if "load" not in skip:
        load(sides, args)
        for side in sides[1:]:
            check(side)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    for side in sides:
        side.engine.dispose()


if __name__ == "__main__":
    main()
