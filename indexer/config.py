"""Settings from the environment, validated once (the README's "Configuration" table)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from indexer.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///indexer.db"
DEFAULT_STRIPE_API_BASE = "https://api.stripe.com"


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


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    stripe_api_key: str | None = None
    webhook_secrets: tuple[str, ...] = ()
    stripe_api_base: str = DEFAULT_STRIPE_API_BASE
    api_tokens: tuple[str, ...] = field(default=(), repr=False)
    dashboard_tokens: tuple[str, ...] = field(default=(), repr=False)
    secret_key: str | None = field(default=None, repr=False)

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
            dashboard_tokens=_split(env.get("INDEXER_DASHBOARD_TOKENS")),
            secret_key=(env.get("INDEXER_SECRET_KEY") or "").strip() or None,
        )

    def require_stripe_key(self) -> str:
        if not self.stripe_api_key:
            raise ConfigError("STRIPE_API_KEY is not set: this command reads from Stripe and needs a key")
        return self.stripe_api_key

    @property
    def sign_in_tokens(self) -> tuple[str, ...]:
        """The tokens that sign in to the dashboard: its own when set, else the query API's."""
        return self.dashboard_tokens or self.api_tokens

    @property
    def stripe_livemode(self) -> bool:
        """Whether the API key reads live-mode data (``sk_live_``/``rk_live_``)."""
        return "_live_" in self.require_stripe_key()
