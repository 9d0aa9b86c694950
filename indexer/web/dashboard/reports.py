"""Where the reports page finds the months with a kept report run: ``indexer.reports``.

The dashboard only lists and serves what the reports package makes; it reads no report itself.
The links between the two are ``indexer.reports.kept_months(engine)`` (newest month first, each
with ``month``, ``account``, ``livemode``, ``files`` and maybe a ``problem``; each file with a
``name`` unique within its month, a ``title`` and a ``kind``) and
``indexer.reports.month_file(engine, month, name, account=, livemode=)``, which makes one of
those files on demand and hands it over in pieces. A file is only ever found by a name the
package lists for that month: nothing on disk is addressed by the URL. Without the reports
package the page says that reports are not available.
"""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy import Engine


def kept_months(engine: Engine) -> list[Any] | None:
    """The months with a kept report run, or None when the reports feature is not installed."""
    source = _source("kept_months")
    return None if source is None else list(source(engine))


def month_file(engine: Engine, month: str, name: str, *, account: str, livemode: bool | None) -> Any:
    """The file ``name`` of ``month`` made on demand (``.file``, ``.pieces``), or None."""
    source = _source("month_file")
    return None if source is None else source(engine, month, name, account=account, livemode=livemode)


def _source(name: str) -> Any:
    try:
        module = importlib.import_module("indexer.reports")
    except ModuleNotFoundError as exc:
        if exc.name not in ("indexer.reports", "indexer"):
            raise
        return None
    return getattr(module, name, None)
