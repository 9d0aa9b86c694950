"""How a migration runs its SQL files, kept as SQL so that they can be read and diffed.

A migration's files are ``versions/sql/<its module name>/<name>``: its own frozen copy of all
the SQL it runs, never another migration's. A statement ends at a line holding only ``;``
(function and trigger bodies end lines with ``;`` but never hold one alone), because SQLite runs
one statement per call. Comment lines before a statement are for the reader and are not sent.
"""

from __future__ import annotations

import re
from pathlib import Path

from alembic import op

#: The end of a statement: a line holding only ``;``.
END = re.compile(r"^;$", re.MULTILINE)
_LEADING_COMMENTS = re.compile(r"\A(?:[ \t]*(?:--[^\n]*)?\n)*")


def path(migration: str, name: str) -> Path:
    """The file ``name`` of the migration module whose ``__file__`` is ``migration``."""
    module = Path(migration)
    return module.parent / "sql" / module.stem / name


def statements(file: Path) -> list[str]:
    """The statements of ``file`` in order, each without the comments before it."""
    *chunks, rest = END.split(file.read_text(encoding="utf-8"))
    if _LEADING_COMMENTS.sub("", rest).strip():
        raise ValueError(f"{file}: the last statement does not end with a line holding only ';'")
    found = [_LEADING_COMMENTS.sub("", chunk).strip() for chunk in chunks]
    if not all(found):
        raise ValueError(f"{file}: a ';' line ends no statement")
    return found


def run(migration: str, name: str) -> None:
    """Execute the statements of a migration's file ``name``, one at a time."""
    for statement in statements(path(migration, name)):
        op.execute(statement)
