"""Shared fixtures: real databases (SQLite and PostgreSQL) and a real Stripe sandbox over HTTP.

PostgreSQL comes from ``TEST_DATABASE_URL`` (``.ci/run`` creates a fresh database); each test gets
its own schema there, migrated by Alembic exactly as ``indexer migrate`` does. Without that
variable the PostgreSQL half of each database test is skipped, locally only: CI always sets it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

import migrations
from indexer import db
from migrations import sqlfiles

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
SHARED = Path(__file__).resolve().parent / "data" / "stripe"
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


def rollup_reference(engine: Engine) -> dict[str, str]:
    """Each rollup view's old definition (migrations 0001 to 0003): its aggregate computed from
    ``purchases`` when read, the reference the rollup tables must equal."""
    old = {
        **_views("0001_initial", "upgrade.sql"),
        **_views("0002_answers", f"upgrade.{engine.dialect.name}.sql"),
        **_views("0003_product_summary", "upgrade.sql"),
    }
    assert set(old) == {"product_customers", "customer_products", "product_summary", "product_sales_daily"}
    return old


def assert_rollups_match(engine: Engine) -> None:
    """Every rollup view equals, row for row, the aggregate over ``purchases`` it replaced."""
    with engine.connect() as conn:
        for view, aggregate in rollup_reference(engine).items():
            got = sorted(tuple(r) for r in conn.execute(text(f"SELECT * FROM {view}")))
            want = sorted(tuple(r) for r in conn.execute(text(aggregate)))
            assert got == want, view
