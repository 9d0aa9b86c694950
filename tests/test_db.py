"""The db layer on both databases: engines per dialect."""

from __future__ import annotations

from sqlalchemy import Engine, text

from indexer import db
from tests.conftest import engine_url


def test_a_reads_engine_plans_pages_once_and_keeps_the_urls_search_path(engine: Engine) -> None:
    reads = db.make_engine(engine_url(engine), reads=True)
    try:
        with reads.connect() as conn:
            if db.is_postgres(conn):
                assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one() == "force_generic_plan"
                assert conn.exec_driver_sql("SHOW search_path").scalar_one() == engine.url.query["options"].split("=", 1)[1]
            assert conn.execute(text("SELECT count(*) FROM purchases")).scalar_one() == 0
    finally:
        reads.dispose()
