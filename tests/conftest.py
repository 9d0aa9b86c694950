"""Shared fixtures: real databases (SQLite and PostgreSQL) and a real Stripe sandbox over HTTP;
shared builders: ``Shop`` (purchases written the real way), webhook events and their signatures.

PostgreSQL comes from ``TEST_DATABASE_URL`` (``.ci/run`` creates a fresh database); each test gets
its own schema there, migrated by Alembic exactly as ``indexer migrate`` does. Without that
variable the PostgreSQL half of each database test is skipped, locally only: CI always sets it.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import Connection, Engine, create_engine, inspect, select, text

import migrations
from indexer import db, models
from indexer.index import rollups, writes
from indexer.index.mapping import guest_key, product_row, refund_row, session_purchase
from indexer.ingest import signatures
from migrations import sqlfiles

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
SHARED = Path(__file__).resolve().parent / "data" / "stripe"
README = Path(__file__).resolve().parents[1] / "README.md"
NO_POSTGRES = (
    "TEST_DATABASE_URL is not set: the PostgreSQL half of the database tests was skipped; run them with "
    "`bash .ci/run` (starts PostgreSQL) or TEST_DATABASE_URL=postgresql+psycopg://USER@HOST:5432/DB scripts/test"
)


def _postgres_engine() -> Iterator[Engine]:
    if not TEST_DATABASE_URL:
        pytest.skip(NO_POSTGRES)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(TEST_DATABASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = db.make_engine(TEST_DATABASE_URL).url.update_query_dict({"options": f"-csearch_path={schema}"})
    engine = db.make_engine(url.render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    yield engine
    engine.dispose()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Every test skipped for want of PostgreSQL reports one place, so that ``-ra`` folds them
    into one line saying how to run them, instead of a line per test."""
    report: pytest.TestReport = yield
    if report.skipped and isinstance(report.longrepr, tuple) and NO_POSTGRES in str(report.longrepr[2]):
        report.longrepr = (__file__, _postgres_engine.__code__.co_firstlineno, NO_POSTGRES)
    return report


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty, unmigrated database of each kind."""
    factory = _sqlite_engine(tmp_path) if request.param == "sqlite" else _postgres_engine()
    yield from factory


@pytest.fixture
def engine(database_url_engine: Engine) -> Engine:
    """A migrated, empty index on SQLite and on PostgreSQL."""
    db.migrate(database_url_engine)
    return database_url_engine


@pytest.fixture
def postgres_engine(engine: Engine) -> Engine:
    """The migrated index on PostgreSQL only: what many writers at once, or its own SQL, need."""
    if not db.is_postgres(engine):
        pytest.skip("PostgreSQL only (SQLite has one writer and row triggers)")
    return engine


def query_rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    """The rows of a query, as tuples."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def engine_url(engine: Engine) -> str:
    """The URL a subprocess (``indexer ...``) needs to reach the same database and schema."""
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def shared_stripe() -> Path:
    """``tests/data/stripe``: copies of Stripe's fixtures, trigger recipes and signature vectors."""
    return SHARED


@pytest.fixture
def sandbox() -> Iterator[object]:
    """A running, empty Stripe sandbox; ``sandbox.url`` is its base address, ``sandbox.store`` its state."""
    from stripe_sandbox.server import SandboxServer
    from stripe_sandbox.store import Store

    server = SandboxServer(Store(), host="127.0.0.1", port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_cluster() -> Iterator[object]:
    """A running throwaway PostgreSQL cluster (``tests/pgcluster.py``) that a test may stop."""
    from tests.pgcluster import Cluster

    try:
        cluster = Cluster()
    except (FileNotFoundError, OSError) as exc:
        pytest.skip(f"cannot make a throwaway PostgreSQL cluster here: {exc}")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


def serve_generated(size: int, seed: int, **server_options: Any) -> Iterator[Any]:
    """A running sandbox holding ``generator.generate(size, seed)``: for module-scoped fixtures
    of tests that want a realistic year of sales (every event family, both API shapes)."""
    from stripe_sandbox import generator
    from stripe_sandbox.server import SandboxServer
    from stripe_sandbox.store import Store

    store = Store()
    generator.generate(store, size=size, seed=seed)
    server = SandboxServer(store, host="127.0.0.1", port=0, **server_options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- webhook events, as Stripe sends them --------------------------------------------------

WEBHOOK_SECRET = "whsec_test_secret"
EVENT_API_VERSION = "2026-10-28.endive"


#: A scripted answer: status, headers, JSON body.
Reply = tuple[int, dict[str, str], dict[str, Any]]


class Scripted:
    """An HTTP server answering from ``script`` (a callable of path and query), recording requests."""

    def __init__(self, script: Callable[[str, dict[str, str], dict[str, str]], Reply]) -> None:
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                url = urlsplit(self.path)
                query = dict(parse_qsl(url.query))
                if self.command == "POST":  # a form body: the script sees it as the query
                    query.update(parse_qsl(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()))
                headers = {k.lower(): v for k, v in self.headers.items()}
                headers[":method"] = self.command
                outer.requests.append((url.path, query, headers))
                status, extra, body = script(url.path, query, headers)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET  # noqa: N815 (http.server's name)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def stored(engine: Engine) -> list[dict]:
    """Every row of the event store, as dicts."""
    with db.transaction(engine) as conn:
        return [dict(r._mapping) for r in conn.execute(select(models.events_t))]


def make_event(event_id: str = "evt_1", *, obj: dict[str, Any] | None = None, **overrides: object) -> dict:
    """An event of Stripe's shape; ``obj`` is its ``data.object`` (a small Checkout Session when
    not given), ``overrides`` replace top-level fields (``type``, ``created``, ``livemode``...)."""
    event = {
        "id": event_id,
        "object": "event",
        "api_version": EVENT_API_VERSION,
        "created": 1_760_000_000,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "checkout.session.completed",
        "data": {"object": obj if obj is not None else
                 {"id": "cs_test_1", "object": "checkout.session", "created": 1_760_000_000}},
    }
    event.update(overrides)
    return event


def product_object(product_id: str, name: str = "Product", *, created: int = 1, livemode: bool = False) -> dict:
    """A Product as an event carries it."""
    return {"id": product_id, "object": "product", "name": name, "active": True, "livemode": livemode,
            "created": created, "updated": created}


def signed(body: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """The headers of a delivery of ``body`` signed with ``secret``, as Stripe signs it."""
    t = int(time.time()) if timestamp is None else timestamp
    return {"Stripe-Signature": f"t={t},v1={signatures.sign(body, secret, t)}", "Content-Type": "application/json"}


# --- purchases written the real way ---------------------------------------------------------

T0 = 1_764_000_000


@dataclass
class Shop:
    """Builds Stripe objects and writes them through ``indexer.index.mapping`` and ``indexer.db``."""

    engine: Engine
    account: str = ""
    counter: itertools.count = field(default_factory=itertools.count)
    #: Write as a backfill does: the rollups of the products written wait for ``rollups.refresh``.
    defer_rollups: bool = False

    def checkout(
        self,
        *lines: tuple[str, int] | tuple[str, int, int],
        email: str | None = "ann@example.com",
        customer: str | None = None,
        name: str | None = "Ann",
        currency: str = "usd",
        created: int = T0,
        livemode: bool = False,
        paid: bool = True,
        account: str | None = None,
    ) -> dict[str, Any]:
        """A completed Checkout Session; ``lines`` are ``(product, amount[, quantity])``."""
        n = next(self.counter)
        session = {
            "id": f"cs_{'live' if livemode else 'test'}_{n:06d}",
            "object": "checkout.session",
            "livemode": livemode,
            "status": "complete",
            "payment_status": "paid" if paid else "unpaid",
            "mode": "payment",
            "created": created,
            "currency": currency,
            "customer": customer,
            "customer_details": {"email": email, "name": name},
            "customer_email": None,
            "invoice": None,
            "payment_intent": f"pi_{n:06d}",
            "payment_link": None,
            "subscription": None,
        }
        items = [
            {
                "id": f"li_{n:06d}_{i}",
                "object": "item",
                "amount_subtotal": line[1],
                "amount_total": line[1],
                "currency": currency,
                "description": f"{line[0]} item",
                "quantity": line[2] if len(line) > 2 else 1,
                "price": {"id": f"price_{line[0]}_{currency}", "object": "price", "product": line[0]},
            }
            for i, line in enumerate(lines)
        ]
        with self._transaction() as conn:
            writes.write_source(conn, session_purchase(session, items, account=self.account if account is None else account))
        return session

    def refund(self, session: dict[str, Any], amount: int) -> None:
        n = next(self.counter)
        refund = {
            "id": f"re_{n:06d}", "object": "refund", "amount": amount, "currency": session["currency"],
            "charge": f"ch_{n:06d}", "payment_intent": session["payment_intent"], "status": "succeeded",
            "created": session["created"] + 60,
        }
        with self._transaction() as conn:
            writes.write_refunds(conn, [refund_row(refund, account=self.account, livemode=session["livemode"])])

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with db.transaction(self.engine) as conn:
            if self.defer_rollups:
                rollups.defer(conn)
            yield conn

    def product(self, product_id: str, name: str, *, livemode: bool = False) -> None:
        obj = {"id": product_id, "object": "product", "name": name, "active": True, "livemode": livemode,
               "created": T0, "updated": T0}
        with db.transaction(self.engine) as conn:
            writes.write_products(conn, [product_row(obj, account=self.account)])


def many_buyers(shop: Shop, product: str, count: int) -> list[str]:
    """``count`` buyers of ``product``, guests and customers mixed: their entry ids in the
    database's order (its collation orders the cursors, whatever Python's order is)."""
    ids = set()
    for i in range(count):
        if i % 3 == 0:
            shop.checkout((product, 100 + i), customer=f"cus_{i:04d}", email=f"c{i}@example.com", created=T0 + i)
            ids.add(f"cus_{i:04d}")
        else:
            shop.checkout((product, 100 + i), email=f"Guest{i}@Example.com", created=T0 + i)
            ids.add(guest_key(f"guest{i}@example.com"))
    with db.transaction(shop.engine) as conn:
        ordered = list(conn.execute(
            text("SELECT DISTINCT customer_key FROM purchases WHERE product_id = :p ORDER BY customer_key"),
            {"p": product},
        ).scalars())
    assert set(ordered) == ids
    return ordered


@pytest.fixture
def shop(engine: Engine) -> Shop:
    return Shop(engine)


# --- helpers shared by several test files ------------------------------------------------------


def alembic(engine: Engine, command_name: str, revision: str) -> None:
    """Run an Alembic command (``upgrade``, ``downgrade``) to ``revision`` on ``engine``, in one
    transaction, as ``indexer migrate`` does."""
    from importlib import resources

    from alembic import command
    from alembic.config import Config

    cfg = Config(str(resources.files("migrations").joinpath("alembic.ini")))
    cfg.set_main_option("script_location", str(resources.files("migrations")))
    with db.transaction(engine) as conn:
        cfg.attributes["connection"] = conn
        getattr(command, command_name)(cfg, revision)


def _views(revision: str, name: str) -> dict[str, str]:
    """The views a migration's SQL file creates: each one's ``SELECT``, by name."""
    views: dict[str, str] = {}
    versions = Path(migrations.__file__).parent / "versions"
    for statement in sqlfiles.statements(sqlfiles.path(str(versions / f"{revision}.py"), name)):
        if statement.startswith("CREATE VIEW "):
            head, select = statement.split(" AS\n", 1)
            views[head.removeprefix("CREATE VIEW ")] = select
    return views


#: A product's distinct customers across currencies, computed from ``purchases`` when read: the
#: reference for the rollup ``product_customer_counts`` (migration ``0011_product_customer_counts``).
PRODUCT_CUSTOMER_COUNTS = (
    "SELECT product_id, account, livemode, COUNT(DISTINCT customer_key) FROM purchases "
    "WHERE product_id IS NOT NULL AND NOT refunded GROUP BY product_id, account, livemode"
)


def rollup_reference(engine: Engine) -> dict[str, str]:
    """Each rollup view's old definition (migrations 0001 to 0003): its aggregate computed from
    ``purchases`` when read, the reference the rollup tables must equal; and, at a revision
    that has it, the table ``product_customer_counts`` with its aggregate."""
    old = {
        **_views("0001_initial", "upgrade.sql"),
        **_views("0002_answers", f"upgrade.{engine.dialect.name}.sql"),
        **_views("0003_product_summary", "upgrade.sql"),
    }
    assert set(old) == {"product_customers", "customer_products", "product_summary", "product_sales_daily"}
    with engine.connect() as conn:
        if inspect(conn).has_table("product_customer_counts"):
            old["product_customer_counts"] = PRODUCT_CUSTOMER_COUNTS
    return old


def assert_rollups_match(engine: Engine) -> None:
    """Every rollup view equals, row for row, the aggregate over ``purchases`` it replaced."""
    with engine.connect() as conn:
        for view, aggregate in rollup_reference(engine).items():
            got = sorted(tuple(r) for r in conn.execute(text(f"SELECT * FROM {view}")))
            want = sorted(tuple(r) for r in conn.execute(text(aggregate)))
            assert got == want, view
