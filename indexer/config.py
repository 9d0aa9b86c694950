"""Settings from the environment (the README's "Configuration" table).

Each setting has a reader that checks it, so a command reads only what it uses: a malformed
``STRIPE_WEBHOOK_SECRET`` stops the web app, never ``indexer customers``. ``Settings.from_env``
holds them all for the web app, checking what the web app uses; the Stripe key's shape is
checked where it is required (``require_stripe_key``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from indexer.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///indexer.db"
DEFAULT_STRIPE_API_BASE = "https://api.stripe.com"
#: Stripe's events are a few kilobytes; a body larger than this is refused unread.
DEFAULT_WEBHOOK_MAX_BYTES = 1024 * 1024

#: ``sk_``/``rk_``, the mode, then letters and digits: anything else (a quote, a space, a line
#: break pasted with the key) would fail every request, or fail to send one at all.
STRIPE_KEY_SHAPE = re.compile(r"(sk|rk)_(test|live)_[A-Za-z0-9]+")


def normalize_database_url(url: str) -> str:
    """Accept the URLs users have: Heroku's ``postgres://`` and plain ``postgresql://`` mean psycopg 3."""
    url = url.strip()
    if not url:
        raise ConfigError("DATABASE_URL is empty")
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if not (url.startswith("postgresql+") or url.startswith("sqlite")):
        raise ConfigError(f"DATABASE_URL must be a PostgreSQL or SQLite URL, got {url.split(':', 1)[0]}:...")
    return url


def read_webhook_max_bytes(env: Mapping[str, str] | None = None) -> int:
    """``INDEXER_WEBHOOK_MAX_BYTES``: the largest webhook body the endpoint reads."""
    raw = ((os.environ if env is None else env).get("INDEXER_WEBHOOK_MAX_BYTES") or "").strip()
    if not raw:
        return DEFAULT_WEBHOOK_MAX_BYTES
    if not (raw.isascii() and raw.isdigit()) or int(raw) <= 0:
        raise ConfigError(f"INDEXER_WEBHOOK_MAX_BYTES must be a positive whole number of bytes, got {raw[:40]!r}")
    return int(raw)


def redact_url(url: str) -> str:
    """``url`` with its password (and a user of a URL that has one) masked: a ``DATABASE_URL``
    carries the database password, and a setting may be shown in a repr, a log line or an error."""
    try:
        parts = urlsplit(url)
        if parts.password is None and "@" not in parts.netloc:
            return url
        host = parts.netloc.rpartition("@")[2]
        user = parts.username or ""
        masked = f"{user}:***@{host}" if parts.password is not None else f"{user}@{host}"
        return parts._replace(netloc=masked).geturl()
    except ValueError:
        return url.split(":", 1)[0] + ":***"


def _mask(secret: str | None) -> str | None:
    """What may be shown of a key or token: its kind (``sk_test_``, ``whsec_``), never its value."""
    if not secret:
        return secret
    kind = re.match(r"(?:(?:sk|rk|pk)_(?:test|live)_|whsec_)", secret)
    return (kind.group(0) if kind else "") + "***"


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def read_database_url(env: Mapping[str, str] | None = None) -> str:
    return normalize_database_url(_env(env).get("DATABASE_URL") or DEFAULT_DATABASE_URL)


def read_stripe_api_key(env: Mapping[str, str] | None = None, *, required: bool = True) -> str | None:
    """``STRIPE_API_KEY``, checked for the shape of a secret or restricted key."""
    key = (_env(env).get("STRIPE_API_KEY") or "").strip()
    if not key:
        if required:
            raise ConfigError("STRIPE_API_KEY is not set: this command reads from Stripe and needs a key")
        return None
    if not STRIPE_KEY_SHAPE.fullmatch(key):
        raise ConfigError("STRIPE_API_KEY must be a secret (sk_test_.../sk_live_...) or restricted "
                          "(rk_...) key of letters and digits; copy it again from the Dashboard")
    return key


def read_stripe_api_base(env: Mapping[str, str] | None = None) -> str:
    """``STRIPE_API_BASE``: an ``http(s)://host[:port]`` address (a path prefix is allowed)."""
    base = (_env(env).get("STRIPE_API_BASE") or DEFAULT_STRIPE_API_BASE).strip().rstrip("/")
    try:
        parts = urlsplit(base)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ConfigError(f"STRIPE_API_BASE must be an address like {DEFAULT_STRIPE_API_BASE} or "
                          f"http://127.0.0.1:12111, got {base!r}")
    return base


def read_webhook_secrets(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    secrets = _split(_env(env).get("STRIPE_WEBHOOK_SECRET"))
    for secret in secrets:
        if not secret.startswith("whsec_"):
            raise ConfigError("STRIPE_WEBHOOK_SECRET must hold whsec_... secrets, comma-separated")
    return secrets


def read_api_tokens(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    return _split(_env(env).get("INDEXER_API_TOKENS"))


@dataclass(frozen=True)
class Settings:
    """Every setting. Its repr (and str) masks each secret: the API key, the webhook secrets,
    the tokens, the session key and the database password show only their kind and count, so
    a settings object in a log line, a traceback or a debugger leaks nothing."""

    database_url: str = DEFAULT_DATABASE_URL
    stripe_api_key: str | None = None
    webhook_secrets: tuple[str, ...] = ()
    stripe_api_base: str = DEFAULT_STRIPE_API_BASE
    api_tokens: tuple[str, ...] = ()
    webhook_max_bytes: int = DEFAULT_WEBHOOK_MAX_BYTES
    dashboard_tokens: tuple[str, ...] = ()
    secret_key: str | None = None

    def __repr__(self) -> str:
        shown = {
            "database_url": redact_url(self.database_url),
            "stripe_api_key": _mask(self.stripe_api_key),
            "webhook_secrets": tuple(_mask(s) for s in self.webhook_secrets),
            "stripe_api_base": redact_url(self.stripe_api_base),
            "api_tokens": f"<{len(self.api_tokens)} token(s)>",
            "webhook_max_bytes": self.webhook_max_bytes,
            "dashboard_tokens": f"<{len(self.dashboard_tokens)} token(s)>",
            "secret_key": "***" if self.secret_key else None,
        }
        return "Settings(" + ", ".join(f"{name}={value!r}" for name, value in shown.items()) + ")"

    __str__ = __repr__

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Every setting; those the web app uses are checked here."""
        env = _env(env)
        return cls(
            database_url=read_database_url(env),
            stripe_api_key=(env.get("STRIPE_API_KEY") or "").strip() or None,
            webhook_secrets=read_webhook_secrets(env),
            stripe_api_base=(env.get("STRIPE_API_BASE") or DEFAULT_STRIPE_API_BASE).strip().rstrip("/"),
            api_tokens=read_api_tokens(env),
            webhook_max_bytes=read_webhook_max_bytes(env),
            dashboard_tokens=_split(env.get("INDEXER_DASHBOARD_TOKENS")),
            secret_key=(env.get("INDEXER_SECRET_KEY") or "").strip() or None,
        )

    def require_stripe_key(self) -> str:
        key = read_stripe_api_key({"STRIPE_API_KEY": self.stripe_api_key or ""})
        assert key is not None
        return key

    @property
    def sign_in_tokens(self) -> tuple[str, ...]:
        """The tokens that sign in to the dashboard: its own when set, else the query API's."""
        return self.dashboard_tokens or self.api_tokens

    @property
    def stripe_livemode(self) -> bool:
        """Whether the API key reads live-mode data (``sk_live_``/``rk_live_``)."""
        return "_live_" in self.require_stripe_key()
