"""``indexer webhooks register`` and ``check`` as a user runs them: the installed command, the
sandbox over HTTP, a real database; one line on stderr and an exit code for every error."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from sqlalchemy import Engine

from indexer import db
from indexer.ingest import event_store
from tests.conftest import engine_url

URL = "https://indexer.example.com/webhooks/stripe"


def indexer(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [os.path.join(os.path.dirname(sys.executable), "indexer"), "webhooks", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env={**os.environ, **env})


def environment(sandbox: Any, engine: Engine) -> dict[str, str]:
    return {"STRIPE_API_KEY": "sk_test_cliwebhooks", "STRIPE_API_BASE": sandbox.url,
            "DATABASE_URL": engine_url(engine)}


def test_register_prints_the_secret_once_as_an_export_line_then_updates(sandbox: Any, engine: Engine) -> None:
    env = environment(sandbox, engine)
    made = indexer("register", URL, env=env)
    assert made.returncode == 0, made.stderr
    (endpoint,) = sandbox.store.webhook_endpoints.values()
    assert made.stdout == f"export STRIPE_WEBHOOK_SECRET={endpoint.secret}\n"
    assert f"created webhook endpoint {endpoint.id} for {URL} (test mode): {len(event_store.APPLIED_TYPES)} event types" in made.stderr
    again = indexer("register", URL, env=env)
    assert again.returncode == 0 and again.stdout == ""
    assert "already has every event type: nothing changed" in again.stderr
    assert len(sandbox.store.webhook_endpoints) == 1

    narrowed = indexer("register", URL, "--events", "invoice.paid", "--events", "product.created", env=env)
    assert narrowed.returncode == 0 and f"removed {len(event_store.APPLIED_TYPES) - 2}" in narrowed.stderr
    check = indexer("check", env=env)
    assert check.returncode == 1
    assert f"{endpoint.id}  {URL}  enabled  test mode" in check.stdout
    assert "  missing: charge.dispute.closed" in check.stdout
    assert "event store: no webhook has arrived yet; 0 pending, 0 failed" in check.stdout
    assert f"problem: {endpoint.id} lacks {len(event_store.APPLIED_TYPES) - 2} event type(s)" in check.stderr
    assert indexer("register", URL, env=env).returncode == 0
    healthy = indexer("check", env=env)
    assert (healthy.returncode, healthy.stdout.splitlines()[-1]) == (0, "ok")


def test_errors_are_one_line_with_an_exit_code(sandbox: Any, database_url_engine: Engine) -> None:
    env = environment(sandbox, database_url_engine)
    cases = [
        (("register", "not-a-url"), env, 2, "the URL must look like https://your-host/webhooks/stripe"),
        (("register", URL, "--events", "customer.created"), env, 2, "'customer.created' is not one of"),
        (("register", URL), {**env, "STRIPE_API_KEY": ""}, 2, "STRIPE_API_KEY is not set"),
        (("register", URL), {**env, "STRIPE_API_KEY": "sk_bogus"}, 2, "STRIPE_API_KEY must be a secret"),
        (("check",), env, 2, "the database has no schema yet: run `indexer migrate`"),
    ]
    for args, case_env, code, message in cases:
        done = indexer(*args, env=case_env)
        assert (done.returncode, "Traceback" in done.stderr) == (code, False), (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)
    assert sandbox.store.webhook_endpoints == {}
    db.migrate(database_url_engine)
    nothing = indexer("check", env=env)
    assert nothing.returncode == 1 and "no webhook endpoints in this account and mode" in nothing.stdout
    assert "problem: no webhook endpoint sends events to the indexer" in nothing.stderr
