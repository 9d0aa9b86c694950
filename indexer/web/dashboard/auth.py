"""Signing in to the dashboard, and what every dashboard request checks.

A person signs in once with one of the sign-in tokens (``INDEXER_DASHBOARD_TOKENS``, else
``INDEXER_API_TOKENS``), posted in a form, never in a URL. The session cookie then holds an
HMAC of that token under the app's secret key, not the token: it is signed (Flask), HTTP-only,
``Secure``, ``SameSite=Lax``, scoped to ``/dashboard`` and valid for twelve hours, and a token
removed from the settings signs its sessions out at their next request. Every POST carries the
session's CSRF token. Pages also get headers that keep them out of frames, caches and
``Referer`` headers, and a Content-Security-Policy that allows no script at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, redirect, render_template, request, session, url_for
from flask.sansio.blueprints import BlueprintSetupState
from werkzeug.exceptions import BadRequest

from indexer.web import settings
from indexer.web.api import token_matches
from indexer.web.dashboard import bp

log = logging.getLogger(__name__)

SESSION_HOURS = 12
MIN_SECRET_KEY = 32
CSRF_FIELD = "csrf_token"
OPEN_ENDPOINTS = frozenset({"dashboard.sign_in", "dashboard.static"})
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


@bp.record_once
def _configure(state: BlueprintSetupState) -> None:
    """The session cookie's settings and the key that signs it, set as the app registers the
    dashboard: ``INDEXER_SECRET_KEY``, or a random key made once per server (gunicorn loads the app
    before it forks, so its workers share the key)."""
    app: Flask = state.app
    configured = app.config["INDEXER_SETTINGS"]
    key = configured.secret_key
    if key is not None and len(key) < MIN_SECRET_KEY:
        log.error("INDEXER_SECRET_KEY is shorter than %d characters: ignored", MIN_SECRET_KEY)
        key = None
    if key is None:
        key = secrets.token_urlsafe(32)
        if configured.sign_in_tokens:
            log.warning(
                "INDEXER_SECRET_KEY is not set: dashboard sessions are signed with a random key of this "
                "server, so they end when it restarts and do not carry over to another machine"
            )
    app.config.update(
        SECRET_KEY=key,
        SESSION_COOKIE_NAME="indexer_dashboard",
        SESSION_COOKIE_PATH="/dashboard",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=SESSION_HOURS),
    )
    app.jinja_env.globals["csrf_token"] = csrf_token


def _fingerprint(token: str) -> str:
    """What the session keeps of a token: an HMAC under the secret key, which reveals nothing of it."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"dashboard-session\0" + token.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def signed_in() -> bool:
    """Whether the session was given for a token that is still configured (constant time)."""
    held = session.get("who")
    if not isinstance(held, str):
        return False
    found = False
    for token in settings().sign_in_tokens:
        found |= hmac.compare_digest(held, _fingerprint(token))
    return found


@bp.context_processor
def _signed_in_flag() -> dict[str, bool]:
    return {"signed_in": signed_in()}


def csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def _check_csrf() -> None:
    given = request.form.get(CSRF_FIELD, "")
    held = session.get("csrf")
    if not isinstance(held, str) or not hmac.compare_digest(given.encode(), held.encode()):
        raise BadRequest("This form has expired or did not come from this dashboard: reload the page and try again.")


@bp.before_request
def _guard() -> Response | None:
    if request.endpoint not in OPEN_ENDPOINTS and not signed_in():
        return redirect(url_for("dashboard.sign_in", next=request.full_path.rstrip("?")))
    if request.method == "POST":
        _check_csrf()
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint != "dashboard.static":
        response.headers["Cache-Control"] = "no-store"
    return response


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a dashboard path of this site only (no open redirect)."""
    default = url_for("dashboard.products")
    if not target:
        return default
    parts = urlsplit(target)
    segments = parts.path.split("/")
    if (parts.scheme or parts.netloc or not parts.path.startswith("/dashboard/") or "//" in parts.path
            or ".." in segments or "\\" in target or any(ord(ch) < 32 for ch in target)):
        return default
    return target


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Response | str | tuple[str, int]:
    tokens = settings().sign_in_tokens
    target = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if tokens and signed_in():
            return redirect(target)
        return render_template("dashboard/sign_in.html", disabled=not tokens, next=target)
    given = request.form.get("token", "").strip()
    if not tokens or not given or not token_matches(given, tokens):
        log.warning("dashboard sign-in refused from %s", request.remote_addr)
        page = render_template("dashboard/sign_in.html", disabled=not tokens, next=target,
                               error="That token is not valid." if tokens else None)
        return page, 401
    session.clear()
    session.permanent = True
    session["who"] = _fingerprint(given)
    session["csrf"] = secrets.token_urlsafe(32)
    return redirect(target)


@bp.post("/sign-out")
def sign_out() -> Response:
    session.clear()
    return redirect(url_for("dashboard.sign_in"))
