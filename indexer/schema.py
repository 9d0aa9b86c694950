"""Whether a database holds the schema this code needs: its Alembic revision against the newest
migration shipped in ``migrations/``.

A database never migrated, or migrated only to an older revision, cannot serve this code (every
webhook would answer 500 there); ``/healthz`` and the commands say so with what to do. A
revision this code does not know is newer code's, during a rolling deploy: migrations only add,
so it serves, and that is logged once.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib import resources

from sqlalchemy import Connection, Engine, inspect, text

from indexer import db

log = logging.getLogger(__name__)


@cache
def _scripts() -> tuple[str, frozenset[str]]:
    """The newest revision shipped, and every revision shipped (read once per process)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("migrations")))
    scripts = ScriptDirectory.from_config(cfg)
    return str(scripts.get_current_head()), frozenset(s.revision for s in scripts.walk_revisions())


def head_revision() -> str:
    return _scripts()[0]


def revision(conn: Connection) -> str | None:
    """The database's Alembic revision; None when it was never migrated."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def problem(engine: Engine) -> str | None:
    """Why the schema cannot serve this code (one line, with what to do), or None.
    ``DatabaseUnavailable`` when the database cannot be reached."""
    current = db.read(engine, revision)
    head, known = _scripts()
    if current is None:
        return "the database has no schema yet: run `indexer migrate`"
    if current == head:
        return None
    if current in known:
        return f"the database schema is at revision {current}, behind this code's {head}: run `indexer migrate`"
    _log_unknown_once(current, head)
    return None


@cache
def _log_unknown_once(current: str, head: str) -> None:
    log.warning("the database schema is at revision %s, which this code (at %s) does not know: "
                "newer code migrated it", current, head)
