"""The web process exactly as the ``Procfile`` runs it (gunicorn, its config file and options):
no query token reaches its logs however it is sent, and oversized input is refused cheaply."""

from __future__ import annotations

import base64
import gc
import http.client
import json
import re
import runpy
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from indexer import create_app, db
from indexer.config import Settings
from tests.conftest import make_event, signed
from tests.faults.conftest import Web, procfile_web_command, start_web, wait_ready

TOKEN = "tok_LogMustNeverShowThis_0123456789"
SECRET = "whsec_gunicorn_test"


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    url = f"sqlite:///{tmp_path / 'index.db'}"
    engine = db.make_engine(url)
    db.migrate(engine)
    engine.dispose()
    web = start_web(url, tmp_path / "gunicorn.log", INDEXER_API_TOKENS=TOKEN, STRIPE_WEBHOOK_SECRET=SECRET)
    try:
        wait_ready(web, timeout=30)
        yield web
    finally:
        web.proc.terminate()
        web.proc.wait(timeout=30)


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    """What the server sends until ``marker`` has arrived or it closes the connection."""
    answer = b""
    while marker not in answer:
        data = sock.recv(65536)
        if not data:
            break
        answer += data
    return answer

def test_no_token_reaches_the_log_however_it_is_sent(web: Web) -> None:
    basic_user = base64.b64encode(f"{TOKEN}:".encode()).decode()
    basic_password = base64.b64encode(f"me:{TOKEN}".encode()).decode()
    sent = [
        ("/v1/products/prod_1/customers", {"Authorization": f"Bearer {TOKEN}"}),
        ("/v1/products/prod_1/customers", {"Authorization": f"Basic {basic_user}"}),
        ("/v1/products/prod_1/customers", {"Authorization": f"Basic {basic_password}"}),
        (f"/v1/products/prod_1/customers?token={TOKEN}&limit=5", {}),
        (f"/dashboard/?token={TOKEN}", {}),
    ]
    statuses = [web.request("GET", path, headers=headers)[0] for path, headers in sent]
    assert 401 not in statuses[:2] and statuses[3] == 401
    time.sleep(1.0)  # access log lines are written after the response
    text = web.log.read_text()
    assert text.count('"GET /v1/products/prod_1/customers') == 4, text  # the requests were logged...
    for secret in (TOKEN, basic_user, basic_password):
        assert secret not in text  # ...without the token, in any form


def test_a_huge_chunked_webhook_body_is_refused_without_being_held(web: Web) -> None:
    """20 MB sent chunked, unsigned: the answer is 413 before the body has all been sent."""
    sock = socket.create_connection(("127.0.0.1", web.port), timeout=30)
    try:
        sock.sendall(b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Stripe-Signature: t=1,v1=00\r\n\r\n")
        chunk = b"x" * 65536
        try:
            for _ in range(320):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass  # the server answered and closed while we were still sending
        sock.settimeout(10)
        answer = _read_until(sock, b"\r\n\r\n")
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_body_over_the_limit_is_refused_from_its_content_length_alone(web: Web) -> None:
    sock = socket.create_connection(("127.0.0.1", web.port), timeout=30)
    try:
        sock.sendall(b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n"
                     b"Stripe-Signature: t=1,v1=00\r\n\r\n{")
        answer = _read_until(sock, b'"}}')
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"invalid_request_error"' in answer


def test_a_signed_event_is_stored_and_a_long_id_gets_a_json_error(web: Web) -> None:
    body = json.dumps(make_event("evt_gunicorn", obj={"id": "prod_1", "object": "product"}, type="product.created",
                                 created=1)).encode()
    status, _, answer = web.request("POST", "/webhooks/stripe", body, signed(body, SECRET))
    assert status == 200 and json.loads(answer)["received"] is True
    status, kind, answer = web.request("GET", f"/v1/products/prod_{'x' * 8000}/customers",
                                       headers={"Authorization": f"Bearer {TOKEN}"})
    assert status in (400, 404) and kind == "application/json"
    assert json.loads(answer)["error"]["type"] == "invalid_request_error"
    time.sleep(1.0)
    assert re.search(r"GET /v1/products/prod_x+/customers HTTP/1.1\" 40", web.log.read_text())


def test_an_app_that_cannot_load_never_opens_the_port(tmp_path: Path) -> None:
    """``preload_app``: the master loads the app before it listens, so a platform never routes
    traffic to a port whose workers cannot answer (here a malformed secret stops the app)."""
    web = start_web(f"sqlite:///{tmp_path / 'index.db'}", tmp_path / "gunicorn.log", STRIPE_WEBHOOK_SECRET="not-a-secret")
    opened = False
    try:
        deadline = time.monotonic() + 60
        while web.proc.poll() is None and time.monotonic() < deadline:
            with socket.socket() as sock:
                opened = opened or sock.connect_ex(("127.0.0.1", web.port)) == 0
            time.sleep(0.01)
    finally:
        web.proc.terminate()
        web.proc.wait(timeout=30)
    assert web.proc.returncode not in (None, 0)
    assert "STRIPE_WEBHOOK_SECRET" in web.log.read_text()
    assert not opened


def test_each_worker_forks_with_a_pool_of_its_own(tmp_path: Path) -> None:
    """The config's ``post_fork`` drops what the master's engine pooled, without closing it."""
    config = runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py"))
    assert config["preload_app"] is True
    url = f"sqlite:///{tmp_path / 'index.db'}"
    app = create_app(Settings(database_url=url, webhook_secrets=(SECRET,)))
    engine = app.extensions["indexer.engine"]
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
    assert engine.pool.checkedin() == 1
    config["post_fork"](SimpleNamespace(app=SimpleNamespace(callable=app)), None)
    assert engine.pool.checkedin() == 0
    raw.execute("SELECT 1")  # not closed: the master may still use it
    config["post_fork"](SimpleNamespace(app=SimpleNamespace(callable=object())), None)  # another app: no-op
    raw.close()
    engine.dispose()


def test_each_worker_keeps_what_it_inherited_out_of_full_collections() -> None:
    """After ``post_fork`` the objects a worker was forked with are frozen, so a full garbage
    collection does not walk the whole loaded app on some request."""
    config = runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py"))
    gc.unfreeze()
    try:
        config["post_fork"](SimpleNamespace(app=None), None)
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()


def test_a_delivery_in_flight_when_told_to_stop_is_answered_and_kept(tmp_path: Path) -> None:
    """SIGTERM to gunicorn while a delivery's body is half sent: the worker stops taking
    connections, the delivery is still answered 200 and stored, and gunicorn exits 0."""
    url = f"sqlite:///{tmp_path / 'index.db'}"
    engine = db.make_engine(url)
    db.migrate(engine)
    web = start_web(url, tmp_path / "gunicorn.log", workers=1, STRIPE_WEBHOOK_SECRET=SECRET)
    try:
        wait_ready(web, timeout=30)
        body = json.dumps(make_event("evt_in_flight", obj={"id": "prod_1", "object": "product"},
                                     type="product.created", created=1)).encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in signed(body, SECRET).items())
        sock = socket.create_connection(("127.0.0.1", web.port), timeout=30)
        with sock:
            sock.sendall(f"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode()
                         + body[:100])
            time.sleep(0.5)
            web.proc.terminate()
            time.sleep(1.0)
            assert web.proc.poll() is None  # waiting for the delivery
            sock.sendall(body[100:])
            answer = _read_until(sock, b"}\n")
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
        assert b'"duplicate": false' in answer
        assert web.proc.wait(timeout=30) == 0
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM stripe_events WHERE id = 'evt_in_flight'").scalar() == 1
    finally:
        if web.proc.poll() is None:
            web.proc.kill()
            web.proc.wait()
        engine.dispose()


def test_the_procfile_serves_through_the_asgi_front(web: Web) -> None:
    """The ``Procfile``'s worker class is ``indexer.web.asgi.Worker`` (uvicorn with httptools and
    uvloop), and gunicorn's own header is gone with it."""
    assert "--worker-class indexer.web.asgi.Worker" in procfile_web_command(8000)
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status == 200 and response.getheader("Server") is None
    assert "Using worker: indexer.web.asgi.Worker" in web.log.read_text()
