"""kill -9 of ``indexer worker`` mid-batch, at random points, over several runs: nothing is lost
or duplicated. A seeded history is stored as webhooks store it; ``indexer worker`` processes
(PostgreSQL, the sandbox over HTTP) are killed one after the other at random moments, then
``indexer worker --once`` drains what is left, waiting out the dead workers' leases. The index
must equal a clean run's, row for row, with every event applied and none parked."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from indexer import db, models
from indexer.ingest.worker import LEASE_SECONDS
from stripe_sandbox.server import SandboxServer
from tests.conftest import assert_rollups_match, engine_url, serve_generated
from tests.faults.conftest import ROOT, clean_worker_run, indexer_env, table_rows
from tests.ingest.conftest import deliver

pytestmark = pytest.mark.slow
KEY = "sk_test_kill"


@pytest.fixture(scope="module")
def shop() -> Iterator[SandboxServer]:
    """A seeded year of sales behind 40 ms of latency, so that batches take a while."""
    yield from serve_generated(120, 23, latency_ms=40)


def worker_command(engine: Engine, sandbox: SandboxServer, *args: str) -> tuple[list[str], dict[str, str]]:
    return [sys.executable, "-m", "indexer.cli", "worker", "--batch-size", "25", *args], indexer_env(
        engine_url(engine), sandbox, KEY)


def test_kill_9_of_the_worker_at_random_points_loses_and_duplicates_nothing(
    shop: SandboxServer, engine: Engine, tmp_path: Path
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("workers are killed against PostgreSQL, as in production")
    bodies, expected = clean_worker_run(shop, tmp_path)
    assert len(expected["purchases"]) > 100

    deliver(engine, bodies)
    seed = int(os.environ.get("KILL_SEED", time.time()))
    rng = random.Random(seed)
    kills = 0
    command, env = worker_command(engine, shop)
    for _ in range(6):
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.0, 3.5))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 3, f"the workers finished before they could be killed (seed {seed})"
    command, env = worker_command(engine, shop, "--once")
    started = time.monotonic()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=LEASE_SECONDS + 120)
    assert done.returncode == 0, f"seed {seed}: {done.stderr[-2000:]}"
    assert time.monotonic() - started < LEASE_SECONDS + 60

    e = models.events_t.c
    with db.transaction(engine) as conn:
        statuses = dict(conn.execute(select(e.status, text("count(*)")).group_by(e.status)).all())
        most = conn.execute(select(text("max(attempts)")).select_from(models.events_t)).scalar_one()
    assert set(statuses) <= {"done", "skipped"}, f"seed {seed}: {statuses}"
    assert most <= kills + 1
    assert table_rows(engine) == expected, f"seed {seed}"
    assert_rollups_match(engine)
