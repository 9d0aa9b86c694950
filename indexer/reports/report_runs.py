"""``indexer report fetch``: a month's itemized balance report through the Report Runs API.

The newest ``balance_change_from_activity.itemized.N`` the account offers is asked for (unless
one is named), with explicit columns: its default columns plus the ids enrichment joins on. The
month's bounds are computed in the timezone and clamped to the type's data range (a month with
no data yet is refused). A run takes seconds or an hour, so it is recorded in the database: the
same request again resumes waiting on the same run; ``--no-wait`` starts it and returns, and
the worker keeps the file when ``reporting.report_run.succeeded`` arrives by webhook
(:func:`keep_finished_run`). The file is downloaded from ``result.url`` with the secret key and
kept in the database, where ``report enrich --month`` and ``report monthly`` find it.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from indexer.errors import ReportPending, StripeError, UsageError
from indexer.reports import kept
from indexer.reports.balance_csv import atomic_output
from indexer.reports.period import Month
from indexer.stripe_api import StripeAPI

ITEMIZED = re.compile(r"^balance_change_from_activity\.itemized\.(\d+)$")
#: What enrichment joins on, asked for besides the type's default columns.
ID_COLUMNS = ("created_utc", "source_id", "charge_id", "payment_intent_id", "invoice_id",
              "customer_email", "customer_name")


@dataclass
class Fetched:
    run: kept.KeptRun
    resumed: bool
    note: str | None = None
    output: Path | None = None
    size: int | None = None


def choose_type(types: list[dict[str, Any]], wanted: str | None) -> dict[str, Any]:
    """The report type asked for, or the newest itemized balance report offered."""
    if wanted:
        for found in types:
            if found.get("id") == wanted:
                return found
        raise UsageError(f"the account offers no report type {wanted!r}", param="report_type")
    itemized = [(int(m[1]), t) for t in types if (m := ITEMIZED.match(str(t.get("id"))))]
    if not itemized:
        raise StripeError("the account offers no balance_change_from_activity.itemized report")
    return max(itemized, key=lambda pair: pair[0])[1]


def columns_for(report_type: dict[str, Any]) -> tuple[str, ...]:
    """The type's default columns, then the id columns enrichment needs. Version 1 and 2 have
    no timezone-local columns, so their local ``created`` is ``created_utc``."""
    defaults = [str(c) for c in report_type.get("default_columns") or ()]
    version = int(report_type.get("version") or 0)
    if version < 3:
        defaults = [c for c in defaults if c not in ("created", "available_on")]
    return tuple(dict.fromkeys([*defaults, *ID_COLUMNS]))


def interval(month: Month, report_type: dict[str, Any]) -> tuple[int, int, str | None]:
    """The month's ``[start, end)``, clamped to the type's data; a note when clamped."""
    start, end = month.bounds()
    first = int(report_type.get("data_available_start") or 0)
    last = int(report_type.get("data_available_end") or 0)
    if start >= last:
        raise UsageError(f"Stripe has no data for {month.label} yet: {report_type['id']} has data "
                         f"up to {_when(last)}", param="month")
    if end <= first:
        raise UsageError(f"Stripe has no data for {month.label}: {report_type['id']} starts "
                         f"at {_when(first)}", param="month")
    notes = []
    if end > last:
        end = last
        notes.append(f"Stripe has data up to {_when(last)}: the report stops there, "
                     f"before the end of {month.label}")
    if start < first:
        start = first
        notes.append(f"Stripe's data starts at {_when(first)}")
    return start, end, "; ".join(notes) or None


def _when(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def fetch(month: Month, *, engine: Engine, api: StripeAPI, account: str = "",
          report_type: str | None = None, output: Path | None = None, wait: bool = True,
          timeout: float = 3600.0, progress: Callable[[str], None] = lambda _: None,
          poll: float = 1.0, max_poll: float = 15.0) -> Fetched:
    chosen = choose_type(api.report_types(account=account), report_type)
    start, end, note = interval(month, chosen)
    request = kept.RunRequest(
        account=account, livemode=api.livemode, report_type=str(chosen["id"]),
        interval_start=start, interval_end=end,
        timezone=month.timezone if int(chosen.get("version") or 0) >= 3 else "",
        columns=columns_for(chosen), month=month.label)
    run = kept.find_by_request(engine, request)
    resumed = run is not None
    if run is None:
        made = api.create_report_run(
            request.report_type, request.parameters(), account=account,
            idempotency_key=f"indexer-{request.key[:40]}-{kept.attempts(engine, request)}")
        run = kept.record(engine, request, made)
        progress(f"started report run {run.id} ({request.report_type}, {month.label})")
    else:
        progress(f"resuming report run {run.id} ({run.status})")
    fetched = Fetched(run, resumed, note)
    if run.kept_at is None and not wait:
        return fetched
    started = time.monotonic()
    delay = poll
    while run.kept_at is None:
        current = api.retrieve(f"/v1/reporting/report_runs/{run.id}", account=account)
        kept.note(engine, current)
        status = current.get("status")
        if status == "failed":
            raise StripeError(f"report run {run.id} failed: {current.get('error') or 'no reason given'}"
                              "; run the command again to start a new one")
        if status == "succeeded":
            keep_finished_run(engine, api, current, account=account)
        else:
            waited = time.monotonic() - started
            if waited >= timeout:
                raise ReportPending(f"report run {run.id} is still {status} after {waited:.0f} s; "
                                    "run the same command again to resume waiting (the worker "
                                    "keeps the file if it gets the webhook first)")
            progress(f"waiting for report run {run.id}: {status}, {waited:.0f} s")
            time.sleep(min(delay, max(0.0, timeout - waited)))
            delay = min(delay * 1.5, max_poll)
        found = kept.get(engine, run.id)
        assert found is not None
        run = found
    fetched.run = run
    fetched.size = run.file_size
    if output is not None:
        with atomic_output(output, binary=True) as out:
            for piece in kept.file_pieces(engine, run.id):
                out.write(piece)
        fetched.output = output
    return fetched


def keep_finished_run(engine: Engine, api: StripeAPI, run: dict[str, Any], *, account: str = "") -> str:
    """What a ``reporting.report_run.*`` object means for the index: the run's state noted, and
    a succeeded run's file downloaded and kept (again, harmlessly, if it was). Runs the indexer
    did not start are left alone. Returns what was done."""
    if not kept.note(engine, run):
        return "not ours"
    if run.get("status") != "succeeded":
        return str(run.get("status"))
    result = run.get("result")
    url = result.get("url") if isinstance(result, dict) else None
    if not url:
        raise StripeError(f"report run {run['id']} succeeded without a result file")
    with tempfile.TemporaryFile() as buffer:
        api.download(url, buffer)
        buffer.seek(0)
        kept.keep_file(engine, run["id"], buffer)
    return "kept"
