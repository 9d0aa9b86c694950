"""Helpers of the fault tests: the web process as the ``Procfile`` runs it, the environment of an
``indexer`` command run as a process, the clean reference runs an index under fault is compared
with, and a sandbox slowed while a test cuts or kills."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from indexer import db
from indexer.stripe_api import StripeAPI
from stripe_sandbox.server import SandboxServer
from tests.history.conftest import run, snapshot, view
from tests.ingest.conftest import deliver, event_bodies, purchase_rows, run_worker

ROOT = Path(__file__).resolve().parents[2]


# --- the web process ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile_web_command(port: int, workers: int = 2) -> str:
    """The ``Procfile``'s ``web`` line, bound to ``127.0.0.1:port`` with ``workers`` processes."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    command = line.split(":", 1)[1].strip()
    return re.sub(r"\$\{WEB_CONCURRENCY:-\d+\}", str(workers),
                  command.replace("0.0.0.0:${PORT:-8000}", f"127.0.0.1:{port}"))


class Web:
    def __init__(self, port: int, proc: subprocess.Popen, log: Path) -> None:
        self.port, self.proc, self.log = port, proc, log

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.getheader("Content-Type") or "", response.read()
        finally:
            conn.close()


def start_web(url: str, log: Path, *, workers: int = 2, **environment: str) -> Web:
    """The ``Procfile``'s web process on ``url`` and a free port (``environment`` added to its
    own), logging to ``log``; ``wait_ready`` waits for it to answer."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, **environment,
           "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}"}
    with log.open("wb") as out:
        proc = subprocess.Popen(["bash", "-c", f"exec {procfile_web_command(port, workers)}"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    return Web(port, proc, log)


def wait_ready(web: Web, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if web.request("GET", "/healthz")[0] == 200:
                return
        except OSError:
            pass
        if web.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not start: {web.log.read_text()[-2000:]}")
        time.sleep(0.2)


# --- commands as processes, and the clean runs they are compared with --------------------------


def indexer_env(database_url: str, sandbox: SandboxServer, key: str) -> dict[str, str]:
    """The environment of an ``indexer`` process on ``database_url`` reading ``sandbox`` with ``key``."""
    return {**os.environ, "DATABASE_URL": database_url, "STRIPE_API_KEY": key, "STRIPE_API_BASE": sandbox.url}


def table_rows(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of the index's tables, in a fixed order: what two runs must agree on."""
    rows = {"purchases": purchase_rows(engine)}
    with db.transaction(engine) as conn:
        for table, columns in (("refunds", "id, account, charge, amount, status"),
                               ("disputes", "id, account, charge, status"),
                               ("products", "account, id, name, active, deleted")):
            rows[table] = [tuple(r) for r in conn.execute(text(f"SELECT {columns} FROM {table} ORDER BY 1, 2"))]
    return rows


def clean_worker_run(sandbox: SandboxServer, tmp_path: Path) -> tuple[list[str], dict[str, list[tuple]]]:
    """The sandbox's test-mode events as webhook bodies, and the index a worker makes of them on a
    fresh SQLite database with nothing going wrong."""
    bodies = event_bodies(sandbox.store, live=False)
    clean = db.make_engine(f"sqlite:///{tmp_path}/clean.db")
    try:
        db.migrate(clean)
        deliver(clean, bodies)
        run_worker(clean, sandbox.url)
        return bodies, table_rows(clean)
    finally:
        clean.dispose()


def clean_backfill_run(sandbox: SandboxServer, tmp_path: Path, key: str) -> tuple[list[Any], list[Any]]:
    """The purchases (``snapshot``) and product customers (``view``) a backfill of the sandbox
    makes on a fresh SQLite database with nothing going wrong."""
    clean = db.make_engine(f"sqlite:///{tmp_path}/clean.db")
    try:
        db.migrate(clean)
        run(clean, StripeAPI(key, api_base=sandbox.url, rate=1000.0))
        return snapshot(clean), view(clean)
    finally:
        clean.dispose()


# --- a slowed sandbox -----------------------------------------------------------------------


@pytest.fixture
def slowed_shop(shop: SandboxServer, request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    """The module's ``shop`` answering each request after the module's ``SLOWED_LATENCY``
    seconds, for the whole test, and as fast as before after it: a run then outlasts a test's
    random wait before it cuts or kills, however fast or busy the machine."""
    before = shop.latency
    shop.latency = float(request.module.SLOWED_LATENCY)
    try:
        yield shop
    finally:
        shop.latency = before
