"""A PostgreSQL outage (the server stopped at once, as by a crash, then started again) in the
middle of the worker's and of the backfill's run: nothing lost, nothing applied or written
twice, and each one recovers.

The database is a throwaway cluster on a spare port (``tests/pgcluster.py``, fixture
``pg_cluster``); the shared server is never stopped. Each test compares the final index with
a clean run's on SQLite, row for row. Webhook delivery during an outage is covered by
``tests/web/test_database_restart.py`` (503 while down, so Stripe retries; 2xx and stored once
after) and, under gunicorn with a burst, by ``tests/faults/test_gunicorn.py``.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from indexer import db, models
from indexer.ingest.worker import Worker
from indexer.stripe_api import StripeAPI
from stripe_sandbox.server import SandboxServer
from tests.conftest import assert_rollups_match, serve_generated
from tests.faults.conftest import (
    ROOT,
    clean_backfill_run,
    clean_worker_run,
    indexer_env,
    table_rows,
)
from tests.history.conftest import snapshot, view
from tests.ingest.conftest import NOWHERE, deliver, deliver_events, product_event, state

KEY = "sk_test_outage"
#: Seconds a request while the backfill's database is cut (``slowed_shop``).
SLOWED_LATENCY = 0.5


@pytest.fixture(scope="module")
def shop() -> Iterator[SandboxServer]:
    """A seeded history behind 30 ms of latency, so that a run lasts long enough to be cut."""
    yield from serve_generated(80, 31, latency_ms=30)


def statuses(engine: Engine) -> dict[str, int]:
    e = models.events_t.c
    with db.transaction(engine) as conn:
        return dict(conn.execute(select(e.status, text("count(*)")).group_by(e.status)).all())


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - the database may still be coming back
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def cli(url: str, sandbox: SandboxServer, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "indexer.cli", *args], env=indexer_env(url, sandbox, KEY), cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exit 5 (database unavailable) and one line, no traceback."""
    assert done.returncode == 5, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("indexer ")]
    assert len(lines) == 1 and "database unavailable" in lines[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.mark.slow
def test_the_worker_rides_out_a_database_outage(
    shop: SandboxServer, pg_cluster: Any, tmp_path: Path
) -> None:
    bodies, expected = clean_worker_run(shop, tmp_path)
    assert len(expected["purchases"]) > 50

    engine = db.make_engine(pg_cluster.url)
    db.migrate(engine)
    deliver(engine, bodies)
    seed = int(os.environ.get("OUTAGE_SEED", time.time()))
    rng = random.Random(seed)
    worker = Worker(engine, StripeAPI(KEY, api_base=shop.url, rate=1000.0), batch_size=25, threads=4,
                    outage_retry_seconds=0.5)
    thread = threading.Thread(target=worker.run, name="outage-worker", daemon=True)
    thread.start()
    try:
        time.sleep(rng.uniform(0.8, 2.0))
        pg_cluster.stop()  # mid-batch: the worker's connections die with the server
        assert statuses_while_down_fail(engine)
        # meanwhile `indexer worker --once` says in one line that the database is down
        one_line_error(cli(pg_cluster.url, shop, "worker", "--once"))
        time.sleep(rng.uniform(0.5, 2.0))
        assert thread.is_alive(), "the worker stopped when the database did"
        pg_cluster.start()
        wait_until(lambda: set(statuses(engine)) <= {"done", "skipped"}, 120, f"the queue to drain (seed {seed})")
    finally:
        worker.stop()
        thread.join(timeout=30)
        worker.close()
    assert not thread.is_alive()
    assert worker.stats.applied > 0 and worker.stats.failed == 0
    e = models.events_t.c
    with db.transaction(engine) as conn:
        most = conn.execute(select(text("max(attempts)")).select_from(models.events_t)).scalar_one()
        count = conn.execute(select(text("count(*)")).select_from(models.events_t)).scalar_one()
        errors = conn.execute(select(e.last_error).where(e.last_error.is_not(None))).scalars().all()
    assert count == len(bodies)
    assert most <= 3, f"seed {seed}: an event was claimed {most} times"
    assert errors == [], f"seed {seed}: {errors[:3]}"
    assert table_rows(engine) == expected, f"seed {seed}"
    assert_rollups_match(engine)
    engine.dispose()


def statuses_while_down_fail(engine: Engine) -> bool:
    try:
        statuses(engine)
    except Exception:  # noqa: BLE001 - what the test expects: the server is down
        return True
    return False


@pytest.mark.slow
def test_the_backfill_exits_in_one_line_and_resumes_after_a_database_outage(
    slowed_shop: SandboxServer, pg_cluster: Any, tmp_path: Path
) -> None:
    shop = slowed_shop  # every request slow: a run outlasts the random wait before the cut
    expected, expected_view = clean_backfill_run(shop, tmp_path, KEY)
    assert len(expected) > 50

    engine = db.make_engine(pg_cluster.url)
    db.migrate(engine)
    engine.dispose()
    seed = int(os.environ.get("OUTAGE_SEED", time.time()))
    rng = random.Random(seed)
    env = indexer_env(pg_cluster.url, shop, KEY)
    cut = 0
    for _ in range(2):
        proc = subprocess.Popen([sys.executable, "-m", "indexer.cli", "backfill", "--concurrency", "2",
                                 "--rate", "100"],
                                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(1.0, 2.5))
        stopped = proc.poll() is None
        if stopped:
            pg_cluster.stop()
        out, err = proc.communicate(timeout=120)
        if stopped:
            pg_cluster.start()
        if proc.returncode == 0:
            break
        cut += 1
        one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    assert cut >= 1, f"the backfill finished before the database could be stopped (seed {seed})"
    done = cli(pg_cluster.url, shop, "backfill", "--rate", "200")
    assert done.returncode == 0, f"seed {seed}: {done.stderr[-2000:]}"

    engine = db.make_engine(pg_cluster.url)
    try:
        assert snapshot(engine) == expected, f"seed {seed}"
        assert view(engine) == expected_view, f"seed {seed}"
        assert_rollups_match(engine)
    finally:
        engine.dispose()


def test_a_batch_cut_off_by_an_outage_is_given_back_once_the_database_answers(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker knows which events it dropped: they are due again as soon as the database
    answers, not after the lease (before: a live worker's own events waited out the lease)."""
    from indexer.errors import DatabaseUnavailable
    deliver_events(engine, [product_event(n) for n in range(5)])
    worker = Worker(engine, StripeAPI(KEY, api_base=NOWHERE, rate=1000.0), lease_seconds=300)
    applied = worker.applier.apply

    def outage(events: Any) -> Any:
        raise DatabaseUnavailable("database unavailable: the server closed the connection")

    try:
        monkeypatch.setattr(worker.applier, "apply", outage)
        with pytest.raises(DatabaseUnavailable):
            worker.run_batch()
        leased = state(engine)
        assert all(r.status == "pending" and r.available_at > time.time() + 200 for r in leased.values())
        monkeypatch.setattr(worker.applier, "apply", applied)
        assert worker.run_batch() == 5  # claimed again at once, by the worker that dropped them
    finally:
        worker.close()
    assert {(r.status, r.attempts) for r in state(engine).values()} == {("done", 2)}
