"""Where the reports page finds the months with a kept report run: ``indexer.reports``.

The dashboard only lists and serves what the reports package keeps; it reads no report itself.
The one link between the two is ``indexer.reports.kept_months(engine)``, which returns, newest
month first, objects with ``month`` (``YYYY-MM``) and ``files``, each file with a ``name``
(unique within its month, e.g. ``prod_X-2026-11.pdf`` or ``enriched-2026-11.csv``) and a
``path`` on disk. Until that function exists the page says that reports are not available yet.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine


@dataclass(frozen=True, slots=True)
class ReportFile:
    name: str
    path: Path

    @property
    def kind(self) -> str:
        return self.path.suffix.lstrip(".").upper() or "file"


@dataclass(frozen=True, slots=True)
class KeptMonth:
    month: str
    files: list[ReportFile]


def kept_months(engine: Engine) -> list[KeptMonth] | None:
    """The months with a kept report run, or None when the reports feature is not installed."""
    source = _source()
    if source is None:
        return None
    return [
        KeptMonth(str(kept.month), [ReportFile(str(f.name), Path(f.path)) for f in kept.files])
        for kept in source(engine)
    ]


def kept_file(engine: Engine, month: str, name: str) -> ReportFile | None:
    """A file the reports package lists for ``month`` under exactly ``name``; nothing else is served."""
    for kept in kept_months(engine) or []:
        if kept.month == month:
            return next((f for f in kept.files if f.name == name and f.path.is_file()), None)
    return None


def _source() -> Any:
    try:
        module = importlib.import_module("indexer.reports")
    except ModuleNotFoundError as exc:
        if exc.name not in ("indexer.reports", "indexer"):
            raise
        return None
    return getattr(module, "kept_months", None)
