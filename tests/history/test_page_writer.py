"""The backfill's page writer: pages land in order with their checkpoints; a failed page stops
every later one; a writer process that dies, or whose parent dies, never leaves anyone waiting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from indexer import db
from indexer.errors import DatabaseUnavailable, IndexerError
from indexer.history import checkpoints, page_writer
from indexer.history.checkpoints import Scope, Shard
from indexer.history.page_writer import Checkpoint

SCOPE = Scope("", False)


def write_products(conn: Connection, names: list[str]) -> None:
    conn.execute(
        text("INSERT INTO products (account, id, livemode, name, active, deleted, updated) "
             "VALUES ('', :id, false, :id, true, false, 0)"),
        [{"id": name} for name in names],
    )


def refuse(conn: Connection, names: list[str]) -> None:
    raise ValueError("this page cannot be written")


class _Unsendable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()  # cannot be pickled back to the parent


def refuse_unsendably(conn: Connection, names: list[str]) -> None:
    raise _Unsendable("a driver error holding a lock")


def product_ids(engine: Engine) -> list[str]:
    with engine.begin() as conn:
        return [r[0] for r in conn.execute(text("SELECT id FROM products ORDER BY id"))]


def step(shard: Shard, cursor: str) -> Checkpoint:
    return Checkpoint(shard, shard.advanced(cursor, 1, False))


@pytest.fixture(params=["process", "inline"])
def writer(request: pytest.FixtureRequest, engine: Engine) -> Any:
    if request.param == "process" and engine.url.database in (None, "", ":memory:"):
        pytest.skip("another process cannot open this database")
    made = page_writer.writer_for(engine, SCOPE, in_process=request.param == "inline")
    yield made
    made.close()


def test_pages_land_in_order_with_their_checkpoints(engine: Engine, writer: Any) -> None:
    shard = Shard("products", 0, 100)
    with db.transaction(engine) as conn:
        checkpoints.save(conn, SCOPE, shard)
    first = writer.submit("products", write_products, ["prod_a"], step(shard, "prod_a"))
    second = writer.submit("products", write_products, ["prod_b"], step(shard, "prod_b"))
    second.result(timeout=30)
    assert first.done()
    assert product_ids(engine) == ["prod_a", "prod_b"]
    with db.transaction(engine) as conn:
        assert [s.cursor for s in checkpoints.load(conn, SCOPE, "products", 0, 100)] == ["prod_b"]


def test_a_failed_page_stops_every_later_one(engine: Engine, writer: Any) -> None:
    shard = Shard("products", 0, 100)
    failed = writer.submit("products", refuse, ["prod_x"], step(shard, "prod_x"))
    later = writer.submit("products", write_products, ["prod_y"], step(shard, "prod_y"))
    with pytest.raises(ValueError, match="cannot be written"):  # raised again with its class
        failed.result(timeout=30)
    with pytest.raises(DatabaseUnavailable, match="an earlier page failed"):
        later.result(timeout=30)
    assert product_ids(engine) == []


def test_an_error_that_cannot_be_sent_back_comes_back_as_an_indexer_error_naming_it(
    engine: Engine, writer: Any
) -> None:
    if isinstance(writer, page_writer.InlineWriter):
        pytest.skip("nothing is sent inline")
    done = writer.submit("products", refuse_unsendably, ["prod_x"], step(Shard("products", 0, 1), "x"))
    with pytest.raises(IndexerError, match="_Unsendable: a driver error holding a lock"):
        done.result(timeout=30)


def test_an_object_that_cannot_be_sent_fails_its_own_page(engine: Engine, writer: Any) -> None:
    if isinstance(writer, page_writer.InlineWriter):
        pytest.skip("nothing is sent inline")
    done = writer.submit("products", lambda conn, items: None, [], step(Shard("products", 0, 1), "x"))
    with pytest.raises(Exception, match="pickle"):
        done.result(timeout=30)


def test_a_dead_writer_process_fails_what_is_pending(engine: Engine) -> None:
    if engine.url.database in (None, "", ":memory:"):
        pytest.skip("another process cannot open this database")
    writer = page_writer.ProcessWriter(engine, SCOPE)
    try:
        os.kill(writer.pid, signal.SIGKILL)
        done = writer.submit("products", write_products, ["prod_z"], step(Shard("products", 0, 1), "z"))
        with pytest.raises(DatabaseUnavailable, match="page writer"):
            done.result(timeout=30)
        later = writer.submit("products", write_products, ["prod_z"], step(Shard("products", 0, 1), "z"))
        with pytest.raises(DatabaseUnavailable, match="page writer"):
            later.result(timeout=30)
    finally:
        writer.close()
    assert product_ids(engine) == []


def test_the_writer_process_exits_when_its_parent_is_killed(engine: Engine) -> None:
    engine_url = engine.url.render_as_string(hide_password=False)
    script = textwrap.dedent(f"""
        import sys, time
        from indexer import db
        from indexer.history import page_writer
        from indexer.history.checkpoints import Scope
        writer = page_writer.ProcessWriter(db.make_engine({engine_url!r}), Scope("", False))
        print(writer.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    assert not _alive(child), "the writer process outlived its parent"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
