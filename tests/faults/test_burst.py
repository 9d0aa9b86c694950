"""A burst of webhook deliveries, with duplicates and out of order, to two web processes
(gunicorn as the ``Procfile`` runs it, two instances as two dynos) while three ``indexer
worker`` processes apply them: every event is stored once and applied once, and the index
equals a clean run's, row for row.

Stripe delivers at least once and in no particular order; a retry may arrive while the first
delivery is still being stored, at another web process. Each event here is sent one to three
times, some copies at the same moment to both web processes, all in a shuffled order.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from indexer import db, models
from indexer.ingest import signatures
from stripe_sandbox.server import SandboxServer
from tests.conftest import assert_rollups_match, engine_url, serve_generated
from tests.faults.conftest import (
    ROOT,
    Web,
    clean_worker_run,
    indexer_env,
    start_web,
    table_rows,
    wait_ready,
)

pytestmark = pytest.mark.slow
KEY = "sk_test_burst"
SECRET = "whsec_burst"


@pytest.fixture(scope="module")
def shop() -> Iterator[SandboxServer]:
    yield from serve_generated(30, 59)


def post(web: Web, body: str) -> int:
    t = int(time.time())
    data = body.encode()
    return web.request("POST", "/webhooks/stripe", data, {
        "Stripe-Signature": f"t={t},v1={signatures.sign(data, SECRET, t)}", "Content-Type": "application/json",
    })[0]


def test_a_burst_with_duplicates_and_reordering_through_two_web_processes_and_three_workers(
    shop: SandboxServer, engine: Engine, tmp_path: Path
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("several workers share a queue on PostgreSQL only")
    bodies, expected = clean_worker_run(shop, tmp_path)
    assert len(expected["purchases"]) > 20

    seed = int(os.environ.get("BURST_SEED", time.time()))
    rng = random.Random(seed)
    url = engine_url(engine)
    webs = [start_web(url, tmp_path / f"web{i}.log", workers=1, STRIPE_WEBHOOK_SECRET=SECRET) for i in range(2)]
    env = indexer_env(url, shop, KEY)
    workers = [subprocess.Popen([sys.executable, "-m", "indexer.cli", "worker", "--batch-size", "20"],
                                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(3)]
    try:
        for web in webs:
            wait_ready(web)
        # (web process, body) for each copy: 1-3 copies of each event, some sent at once to both
        sends: list[tuple[Web, str]] = []
        for body in bodies:
            copies = rng.choice((1, 1, 2, 3))
            sends.extend((rng.choice(webs), body) for _ in range(copies))
            if rng.random() < 0.2:
                sends.extend((web, body) for web in webs)
        rng.shuffle(sends)
        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(lambda send: post(*send), sends))
        assert set(answers) == {200}, f"seed {seed}: {sorted(set(answers))}"

        e = models.events_t.c
        deadline = time.monotonic() + 180
        while True:
            with db.transaction(engine) as conn:
                left = conn.execute(select(text("count(*)")).where(e.status.not_in(("done", "skipped")))).scalar_one()
            if not left:
                break
            assert time.monotonic() < deadline, f"seed {seed}: {left} event(s) not applied"
            assert all(w.poll() is None for w in workers), "a worker stopped"
            time.sleep(0.5)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        outputs = [worker.communicate(timeout=60) for worker in workers]
        for web in webs:
            web.proc.terminate()
            web.proc.wait(timeout=30)
    # SIGTERM: each worker finished its batch and exited 0
    assert [w.returncode for w in workers] == [0, 0, 0], [err[-1000:] for _, err in outputs]

    with db.transaction(engine) as conn:
        rows = conn.execute(select(e.id, e.status, e.attempts, e.source)).all()
    assert len(rows) == len({json.loads(b)["id"] for b in bodies}) == len(bodies), f"seed {seed}"
    assert {r.status for r in rows} <= {"done", "skipped"}
    assert {r.attempts for r in rows} == {1}, f"seed {seed}: an event was claimed twice"
    applied = [int(out.rsplit("applied ", 1)[1].split(",", 1)[0]) for out, _ in outputs if "applied " in out]
    assert sum(applied) == len(bodies), f"seed {seed}: applied {applied} of {len(bodies)}"
    assert table_rows(engine) == expected, f"seed {seed}"
    assert_rollups_match(engine)
