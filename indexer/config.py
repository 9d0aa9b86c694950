"""Settings from the environment, validated once (see CONTRACT.md, "Configuration")."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from indexer.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///indexer.db"
DEFAULT_STRIPE_API_BASE = "https://api.stripe.com"
#: Stripe's events are a few kilobytes; a body larger than this is refused unread.
DEFAULT_WEBHOOK_MAX_BYTES = 1024 * 1024


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


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    stripe_api_key: str | None = None
    webhook_secrets: tuple[str, ...] = ()
    stripe_api_base: str = DEFAULT_STRIPE_API_BASE
    api_tokens: tuple[str, ...] = field(default=(), repr=False)
    webhook_max_bytes: int = DEFAULT_WEBHOOK_MAX_BYTES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        key = (env.get("STRIPE_API_KEY") or "").strip() or None
        if key is not None and not key.startswith(("sk_", "rk_")):
            raise ConfigError("STRIPE_API_KEY must be a secret (sk_...) or restricted (rk_...) key")
        secrets = _split(env.get("STRIPE_WEBHOOK_SECRET"))
        for secret in secrets:
            if not secret.startswith("whsec_"):
                raise ConfigError("STRIPE_WEBHOOK_SECRET must hold whsec_... secrets, comma-separated")
        return cls(
            database_url=normalize_database_url(env.get("DATABASE_URL") or DEFAULT_DATABASE_URL),
            stripe_api_key=key,
            webhook_secrets=secrets,
            stripe_api_base=(env.get("STRIPE_API_BASE") or DEFAULT_STRIPE_API_BASE).rstrip("/"),
            api_tokens=_split(env.get("INDEXER_API_TOKENS")),
            webhook_max_bytes=read_webhook_max_bytes(env),
        )

    def require_stripe_key(self) -> str:
        if not self.stripe_api_key:
            raise ConfigError("STRIPE_API_KEY is not set: this command reads from Stripe and needs a key")
        return self.stripe_api_key

    @property
    def stripe_livemode(self) -> bool:
        """Whether the API key reads live-mode data (``sk_live_``/``rk_live_``)."""
        return "_live_" in self.require_stripe_key()
