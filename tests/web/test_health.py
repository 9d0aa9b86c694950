"""GET /healthz: 503 with the reason on a database that is unreachable, never migrated or behind
the newest migration; 200 once it is current, checked once per process from then on."""

from __future__ import annotations

from sqlalchemy import Engine, text

from indexer import create_app, db, schema
from indexer.config import Settings
from tests.conftest import engine_url


def healthz(engine: Engine) -> tuple[int, dict]:
    app = create_app(Settings(database_url=engine_url(engine)))
    response = app.test_client().get("/healthz")
    app.extensions["indexer.engine"].dispose()
    return response.status_code, response.get_json()


def test_an_unmigrated_database_is_unhealthy_and_says_what_to_do(database_url_engine: Engine) -> None:
    assert healthz(database_url_engine) == (503, {
        "status": "unavailable", "error": "the database has no schema yet: run `indexer migrate`"})


def test_a_database_behind_the_newest_migration_is_unhealthy(database_url_engine: Engine) -> None:
    db.migrate(database_url_engine, "0005_day_moves")
    status, body = healthz(database_url_engine)
    assert status == 503 and body["status"] == "unavailable"
    assert body["error"] == (f"the database schema is at revision 0005_day_moves, behind this code's "
                             f"{schema.head_revision()}: run `indexer migrate`")
    db.migrate(database_url_engine)
    assert healthz(database_url_engine) == (200, {"status": "ok"})


def test_the_newest_migration_is_the_head_of_the_shipped_scripts(engine: Engine) -> None:
    assert db.migrate(engine) == schema.head_revision()
    assert db.read(engine, schema.revision) == schema.head_revision()


def test_once_current_the_schema_is_not_read_again_but_the_database_still_is(engine: Engine) -> None:
    app = create_app(Settings(database_url=engine_url(engine)))
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    with db.transaction(engine) as conn:  # what a request would now read, if it read it
        conn.execute(text("UPDATE alembic_version SET version_num = '0001_initial'"))
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert create_app(Settings(database_url=engine_url(engine))).test_client().get("/healthz").status_code == 503
    app.extensions["indexer.engine"].dispose()


def test_a_revision_this_code_does_not_know_is_newer_code_and_healthy(engine: Engine) -> None:
    with db.transaction(engine) as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    assert healthz(engine) == (200, {"status": "ok"})


def test_an_unreachable_database_is_unhealthy_without_its_address() -> None:
    app = create_app(Settings(database_url="postgresql+psycopg://indexer@127.0.0.1:9/nowhere?connect_timeout=2"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "error": "The database is unavailable; retry later."}
