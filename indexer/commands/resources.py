"""What commands open: the index, a Stripe client. Each reads and checks only the settings it
needs, so a setting one command does not use never stops it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from indexer import config, db
from indexer.errors import ConfigError

if TYPE_CHECKING:
    from indexer.stripe_api import StripeAPI


def open_index(*, reads: bool = False) -> Engine:
    """The index of ``DATABASE_URL``, checked: reachable (else ``DatabaseUnavailable``, exit 5)
    and migrated to the code's newest revision (else ``ConfigError`` naming ``indexer migrate``).

    A SQLite file that does not exist is reported, not created: opening it would leave an empty
    file behind that looks like an index.
    """
    url = config.read_database_url()
    _require_sqlite_file(url)
    engine = db.make_engine(url, reads=reads)
    try:
        db.require_current_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def open_database() -> Engine:
    """The database of ``DATABASE_URL`` as it is, for ``indexer migrate`` (which may create it)."""
    url = config.read_database_url()
    path = _sqlite_path(url)
    if path is not None and not path.absolute().parent.is_dir():
        raise ConfigError(f"cannot create {path.absolute()}: no directory {path.absolute().parent}; "
                          "create it, or point DATABASE_URL elsewhere")
    engine = db.make_engine(url)
    db.ping(engine)
    return engine


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for another database, a URI filename or memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.query.get("uri") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _require_sqlite_file(url: str) -> None:
    path = _sqlite_path(url)
    if path is not None and not path.exists():
        raise ConfigError(f"no index at {path.absolute()}: run `indexer migrate` first "
                          "(or point DATABASE_URL at the index)")


#: How long a command someone waits for (``customers --live``) retries one request before it
#: says Stripe cannot be reached; long jobs (backfill, catch-up, worker) keep the client's own.
INTERACTIVE_MAX_WAIT = 10.0


def stripe_client(*, rate: float | None = None, interactive: bool = False) -> StripeAPI:
    """A client for ``STRIPE_API_KEY`` at ``STRIPE_API_BASE``, both checked first: a malformed
    one is a ``ConfigError`` at once, not a request retried until it gives up."""
    from indexer.stripe_api import StripeAPI

    key = config.read_stripe_api_key()
    assert key is not None
    base = config.read_stripe_api_base()
    if interactive:
        return StripeAPI(key, api_base=base, rate=rate, max_wait=INTERACTIVE_MAX_WAIT)
    return StripeAPI(key, api_base=base, rate=rate)
