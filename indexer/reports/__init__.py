"""Stripe's itemized balance report: read by its header and enriched with products
(``enrich``), fetched through the Report Runs API (``report_runs``, ``kept``), and turned into
one PDF per product per month (``monthly``, ``pdf``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from indexer.reports.on_demand import KeptMonth, ServedFile


def kept_months(engine: Engine) -> list[KeptMonth]:
    """The months with a kept report run and the files made from each (``on_demand``);
    imported when called, so that a command reading one report loads no PDF library."""
    from indexer.reports import on_demand

    return on_demand.kept_months(engine)


def month_file(engine: Engine, month: str, name: str, *, account: str = "",
               livemode: bool | None = None) -> ServedFile | None:
    """One file of a kept month, made on demand (``on_demand.month_file``)."""
    from indexer.reports import on_demand

    return on_demand.month_file(engine, month, name, account=account, livemode=livemode)
