"""The web process's front (``Procfile``: gunicorn with ``--worker-class indexer.web.asgi.Worker``):
an ASGI server (uvicorn, its HTTP parser and event loop in C: httptools, uvloop) in each gunicorn
worker, answering ``POST /webhooks/stripe`` itself and handing every other request to the Flask
app unchanged, through a WSGI adapter (a2wsgi) and a thread pool.

Why: a webhook is the one request that arrives in bursts of thousands, and under gunicorn's own
threaded worker most of its CPU was gunicorn's per-request work in Python (parsing the request,
handing the connection between threads, the access log), not ours. Here that work is done in C,
and only the delivery's own steps (``webhooks.accept``: verify, validate, the durable insert) run
in a thread, so the event loop never waits on the database (``bench/webhook_ingest.py``, figures in
README "Benchmarks"). gunicorn still runs the process: ``gunicorn.conf.py``'s ``preload_app`` and
``post_fork`` see the Flask app as before, since the worker wraps it only once forked.

A delivery whose steps do not all succeed is handed to the Flask view with the exception raised
(``webhooks.HANDED_OVER``), exactly as ``webhooks.WebhookFastPath`` hands it, so every error keeps
its one mapping, logging and counting. The access log names no query string (``AccessLogFilter``).
"""

from __future__ import annotations

import asyncio
import io
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from a2wsgi import WSGIMiddleware
from flask import Flask
from uvicorn_worker import UvicornWorker

from indexer.web import webhooks

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    Scope = dict[str, Any]
    Message = dict[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]

_HEADERS = [(b"content-type", b"application/json")]


class WebhookFront:
    """ASGI app: ``POST /webhooks/stripe`` answered here when every step of ``webhooks.accept``
    succeeds (its steps in one of ``threads`` threads), anything else answered by ``app``'s own
    WSGI machinery (Flask, without ``WebhookFastPath``, which has nothing left to do here)."""

    def __init__(self, app: Flask, fast_path: webhooks.WebhookFastPath, threads: int) -> None:
        self.app = app
        self.flask = WSGIMiddleware(_handing_over(fast_path.wsgi_app), workers=threads)  # type: ignore[arg-type]
        self.steps = ThreadPoolExecutor(threads, thread_name_prefix="webhook")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != webhooks.PATH:
            return await self.flask(scope, receive, send)  # type: ignore[arg-type]
        length: int | None = None
        signature: str | None = None
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit():
                length = int(value)
            elif name == b"stripe-signature":
                signature = value.decode("latin-1")
        limit = self.app.config["INDEXER_SETTINGS"].webhook_max_bytes
        body = b"" if length is not None and length > limit else await _read_at_most(receive, limit + 1)
        try:
            stored = await asyncio.get_running_loop().run_in_executor(
                self.steps, webhooks.accept_counted, self.app, io.BytesIO(body), length, signature)
        except Exception as exc:  # noqa: BLE001 - handed to the view, which raises it again
            scope[webhooks.HANDED_OVER] = exc
            return await self.flask(scope, _no_more_body, send)  # type: ignore[arg-type]
        answer = webhooks.answer_body(stored)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_HEADERS, (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})


async def _read_at_most(receive: Receive, limit: int) -> bytes:
    """The body, or its first ``limit`` bytes or more (then ``webhooks.read_body`` answers 413
    without the rest ever being read)."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        message = await receive()
        chunk = message.get("body", b"")
        parts.append(chunk)
        size += len(chunk)
        if not message.get("more_body"):
            break
    return b"".join(parts)


async def _no_more_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _handing_over(wsgi_app: WSGIApplication) -> WSGIApplication:
    """``wsgi_app`` with a failed delivery's exception moved from the ASGI scope (where
    ``WebhookFront`` put it) to the WSGI environ (where the view looks).

    The adapter's input ends where the request's body ends, chunked or not, and says so as
    gunicorn did (``wsgi.input_terminated``): without it Werkzeug reads a body sent without a
    ``Content-Length`` as empty."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        environ.setdefault("wsgi.input_terminated", True)
        failure = environ.get("asgi.scope", {}).pop(webhooks.HANDED_OVER, None)
        if failure is not None:
            environ[webhooks.HANDED_OVER] = failure
        return wsgi_app(environ, start_response)

    return app


def front(wsgi_app: Any, threads: int) -> Any:
    """The ASGI app a worker serves for the WSGI app gunicorn loaded: ours gets ``WebhookFront``;
    any other (the benches' minimal receiver, an app without ``WebhookFastPath``) only the
    adapter."""
    fast_path = getattr(wsgi_app, "wsgi_app", None)
    if isinstance(wsgi_app, Flask) and isinstance(fast_path, webhooks.WebhookFastPath):
        return WebhookFront(wsgi_app, fast_path, threads)
    return WSGIMiddleware(_handing_over(wsgi_app), workers=threads)  # type: ignore[arg-type]


class AccessLogFilter(logging.Filter):
    """uvicorn's access line names the path with its query string, where a token or an email
    address could ride: the line keeps the path only (``gunicorn.conf.py``'s rule: no user, no
    query string, no header)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


class Worker(UvicornWorker):
    """gunicorn's worker class for the ``Procfile``: uvicorn with httptools and uvloop serving
    ``front`` of the loaded app, ``--threads`` threads for the Flask app and as many for
    webhook deliveries."""

    CONFIG_KWARGS = {"loop": "uvloop", "http": "httptools", "server_header": False}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        access = logging.getLogger("uvicorn.access")
        if not any(isinstance(f, AccessLogFilter) for f in access.filters):
            access.addFilter(AccessLogFilter())

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = front(self.wsgi, max(self.cfg.threads, 1))
