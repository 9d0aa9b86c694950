"""No secret in a repr, a log line or an error message: the Stripe key, the webhook secrets,
the query and dashboard tokens, the session key and the database password.

Each test fails if one secret's value shows up where it is checked: ``Settings``' repr and str,
every log record the web app writes while it is used (good and bad signatures, good and bad
tokens), the answers it gives, and the one-line error of a command whose database is down.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from indexer import create_app
from indexer.config import Settings, redact_url
from indexer.ingest import signatures
from tests.conftest import engine_url

STRIPE_KEY = "sk_test_51SecretKeyValueThatMustNeverShow"
WEBHOOK_SECRETS = ("whsec_firstSecretNeverShown", "whsec_secondSecretNeverShown")
API_TOKEN = "apitoken-never-shown-0123456789"
DASHBOARD_TOKEN = "dashtoken-never-shown-9876543210"
SECRET_KEY = "flask-session-key-never-shown-0123456789abcdef"
DB_PASSWORD = "dbPasswordNeverShown"
SECRETS = (STRIPE_KEY, *WEBHOOK_SECRETS, API_TOKEN, DASHBOARD_TOKEN, SECRET_KEY, DB_PASSWORD)


def env(database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "STRIPE_API_KEY": STRIPE_KEY,
        "STRIPE_WEBHOOK_SECRET": ",".join(WEBHOOK_SECRETS),
        "INDEXER_API_TOKENS": API_TOKEN,
        "INDEXER_DASHBOARD_TOKENS": DASHBOARD_TOKEN,
        "INDEXER_SECRET_KEY": SECRET_KEY,
    }


def leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def test_settings_repr_and_str_mask_every_secret() -> None:
    settings = Settings.from_env(env(f"postgresql://indexer:{DB_PASSWORD}@db.example:5432/index"))
    for shown in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        assert leaked(shown) == [], shown
    # What is shown still helps: where the database is, which kind of key, how many secrets.
    assert "postgresql+psycopg://indexer:***@db.example:5432/index" in repr(settings)
    assert "sk_test_***" in repr(settings)
    assert repr(settings).count("whsec_***") == 2
    assert settings.stripe_api_key == STRIPE_KEY  # masked when shown, never changed


@pytest.mark.parametrize("url, shown", [
    ("postgresql+psycopg://u:pw@h:5432/db", "postgresql+psycopg://u:***@h:5432/db"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("sqlite:///index.db", "sqlite:///index.db"),
    ("http://user:pw@127.0.0.1:12111", "http://user:***@127.0.0.1:12111"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.fixture
def client(engine: Engine) -> Iterator[FlaskClient]:
    settings = Settings.from_env(env(engine_url(engine)))
    app = create_app(settings)
    yield app.test_client()
    app.extensions["indexer.engine"].dispose()


def test_no_secret_in_web_log_lines_or_answers(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    event = {"id": "evt_secret_1", "object": "event", "type": "customer.created", "created": int(time.time()),
             "livemode": False, "api_version": "2026-10-28.endive",
             "data": {"object": {"id": "cus_1", "object": "customer"}}}
    body = json.dumps(event).encode()
    now = int(time.time())
    answers = [
        client.post("/webhooks/stripe", data=body, headers={
            "Stripe-Signature": f"t={now},v1={signatures.sign(body, WEBHOOK_SECRETS[1], now)}",
            "Content-Type": "application/json"}),
        client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": f"t={now},v1=00"}),
        client.post("/webhooks/stripe", data=body),
        client.get("/v1/products/prod_1/customers", headers={"Authorization": f"Bearer {API_TOKEN}"}),
        client.get("/v1/products/prod_1/customers", headers={"Authorization": f"Bearer {API_TOKEN}x"}),
        client.get("/v1/products/prod_1/customers", auth=("user", API_TOKEN)),
        client.post("/dashboard/sign-in", data={"token": DASHBOARD_TOKEN + "x"}),
        client.get("/metrics"),
        client.get("/healthz"),
    ]
    assert [a.status_code for a in answers[:5]] == [200, 400, 400, 404, 401]  # 404: no such product yet
    for answer in answers:
        assert leaked(answer.get_data(as_text=True)) == [], answer.request.path
    lines = [record.getMessage() for record in caplog.records]
    lines += [repr(record.args) for record in caplog.records]
    assert leaked("\n".join(lines)) == []


def test_no_secret_in_a_command_error(tmp_path: object) -> None:
    """A command whose database is down says so in one line, without the password of the URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run_env = {**os.environ, **env(f"postgresql://indexer:{DB_PASSWORD}@127.0.0.1:{port}/index")}
    for args in (["worker", "--once"], ["customers", "prod_1"], ["catch-up"]):
        done = subprocess.run([sys.executable, "-m", "indexer.cli", *args], env=run_env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode != 0, args
        assert done.stderr.strip(), args
        assert leaked(done.stdout + done.stderr) == [], (args, done.stderr)
