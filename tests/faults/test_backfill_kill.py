"""kill -9 of ``indexer backfill`` mid-shard, at random points, over several runs: each rerun
resumes from the checkpoints, and the final index equals a clean run's, row for row.

The backfill runs as its own process (``indexer backfill`` through ``cli.main``) with pages of
ten objects, so that every shard takes many pages and a kill lands inside one; the sandbox
answers after 200 ms (``SLOWED_LATENCY``), so that a run outlasts the random wait. Only the main process is killed, as the kernel's OOM
killer or ``kill -9`` would: its page-writer child sees the pipe close and stops on its own.
"""

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
from sqlalchemy import Engine, text

from indexer.history import checkpoints
from indexer.history.checkpoints import Scope
from stripe_sandbox.server import SandboxServer
from tests.conftest import assert_rollups_match, engine_url, serve_generated
from tests.faults.conftest import ROOT, clean_backfill_run, indexer_env
from tests.history.conftest import snapshot, view

pytestmark = pytest.mark.slow
KEY = "sk_test_backfillkill"
#: Seconds a request while the backfill is killed (``slowed_shop``).
SLOWED_LATENCY = 0.2
#: ``indexer backfill`` with ten objects a page (the CLI has no option for it; a test needs it).
SMALL_PAGES = (
    "import sys; from indexer import cli, stripe_api; stripe_api.PAGE_LIMIT = 10; "
    "sys.exit(cli.main(['backfill', '--concurrency', '3', '--rate', '200']))"
)


@pytest.fixture(scope="module")
def shop() -> Iterator[SandboxServer]:
    yield from serve_generated(80, 47, latency_ms=50)


def listed(engine: Engine) -> int:
    """Objects listed so far, by the checkpoints of both streams (each page commits with its own)."""
    with engine.begin() as conn:
        return sum(s.objects for stream in ("sessions", "invoices")
                   for s in checkpoints.load(conn, Scope("", False), stream, 0, 2**62))


def duplicates(engine: Engine) -> int:
    with engine.begin() as conn:
        return int(conn.execute(text(
            "SELECT count(*) FROM (SELECT source_id, line_item_id FROM purchases "
            "GROUP BY source_id, line_item_id HAVING count(*) > 1) d"
        )).scalar_one())


def test_kill_9_of_the_backfill_mid_shard_at_random_points(
    slowed_shop: SandboxServer, engine: Engine, tmp_path: Path
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the backfill is killed against PostgreSQL, as in production")
    shop = slowed_shop  # every request slow: a run outlasts the random wait before the kill
    expected, expected_view = clean_backfill_run(shop, tmp_path, KEY)
    assert len(expected) > 50

    env = indexer_env(engine_url(engine), shop, KEY)
    seed = int(os.environ.get("KILL_SEED", time.time()))
    rng = random.Random(seed)
    kills, progress = 0, [0]
    while kills < 3 and len(progress) < 6:
        proc = subprocess.Popen([sys.executable, "-c", SMALL_PAGES], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # once this run has written a page of its own, at a random moment of what follows
        deadline = time.monotonic() + 60
        while proc.poll() is None and listed(engine) <= progress[-1] and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.0))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        _, err = proc.communicate(timeout=60)
        assert proc.returncode in (0, -signal.SIGKILL), f"seed {seed}: {err[-2000:]}"
        progress.append(listed(engine))
        if proc.returncode == 0:
            break
    assert kills >= 2, f"the backfill finished before it could be killed twice (seed {seed})"
    assert progress == sorted(progress), f"seed {seed}: a rerun lost checkpointed progress {progress}"
    assert duplicates(engine) == 0

    done = subprocess.run([sys.executable, "-c", SMALL_PAGES], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"seed {seed}: {done.stderr[-2000:]}"
    assert snapshot(engine) == expected, f"seed {seed}"
    assert view(engine) == expected_view, f"seed {seed}"
    assert duplicates(engine) == 0
    assert_rollups_match(engine)
