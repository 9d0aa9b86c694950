"""The report runs the indexer started and the files it kept: tables ``report_runs`` and
``report_file_chunks`` end to end (migration ``0007_reports``).

A run is recorded with the parameters it was asked with; ``request_key`` (a digest of them)
finds it again, so asking for the same month twice resumes the same run. A succeeded run's file
is kept in the database in pieces of a mebibyte, read back a piece at a time.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import Engine, delete, func, insert, select, update

from indexer import db
from indexer.models import report_chunks_t, report_runs_t

CHUNK = 1 << 20
r = report_runs_t.c
ch = report_chunks_t.c


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What a run is asked for; equal requests resume the same run."""

    account: str
    livemode: bool
    report_type: str
    interval_start: int
    interval_end: int
    timezone: str
    columns: tuple[str, ...]
    month: str | None = None

    @property
    def key(self) -> str:
        text = json.dumps([self.account, self.livemode, self.report_type, self.interval_start,
                           self.interval_end, self.timezone, list(self.columns)])
        return hashlib.sha256(text.encode()).hexdigest()[:64]

    def parameters(self) -> dict[str, Any]:
        params: dict[str, Any] = {"interval_start": self.interval_start,
                                  "interval_end": self.interval_end, "columns": list(self.columns)}
        if self.timezone:
            params["timezone"] = self.timezone
        return params


@dataclass(frozen=True, slots=True)
class KeptRun:
    id: str
    account: str
    livemode: bool
    report_type: str
    month: str | None
    status: str
    error: str | None
    result_url: str | None
    file_size: int | None
    kept_at: int | None
    interval_start: int
    interval_end: int
    timezone: str


_COLUMNS = (r.id, r.account, r.livemode, r.report_type, r.month, r.status, r.error, r.result_url,
            r.file_size, r.kept_at, r.interval_start, r.interval_end, r.timezone)


def attempts(engine: Engine, request: RunRequest) -> int:
    """How many runs of this request were started (failed ones included)."""
    return int(db.read(engine, lambda c: c.execute(
        select(func.count()).select_from(report_runs_t).where(r.request_key == request.key)
    ).scalar()) or 0)


def find_by_request(engine: Engine, request: RunRequest) -> KeptRun | None:
    """The newest run of this request that has not failed."""
    row = db.read(engine, lambda c: c.execute(
        select(*_COLUMNS).where(r.request_key == request.key, r.status != "failed")
        .order_by(r.created.desc()).limit(1)).first())
    return KeptRun(*row) if row else None


def get(engine: Engine, run_id: str) -> KeptRun | None:
    row = db.read(engine, lambda c: c.execute(select(*_COLUMNS).where(r.id == run_id)).first())
    return KeptRun(*row) if row else None


def kept_for_month(engine: Engine, account: str, livemode: bool | None, month: str) -> KeptRun | None:
    """The newest run of ``month`` whose file is kept."""
    where = [r.account == account, r.month == month, r.kept_at.is_not(None)]
    if livemode is not None:
        where.append(r.livemode == livemode)
    row = db.read(engine, lambda c: c.execute(
        select(*_COLUMNS).where(*where).order_by(r.kept_at.desc()).limit(1)).first())
    return KeptRun(*row) if row else None


def kept_runs(engine: Engine) -> list[KeptRun]:
    """For each account, mode and month with a kept file, its newest run: newest month first."""
    rows = db.read(engine, lambda c: c.execute(
        select(*_COLUMNS).where(r.kept_at.is_not(None), r.month.is_not(None))
        .order_by(r.month.desc(), r.account, r.livemode.desc(), r.kept_at.desc())).all())
    newest: dict[tuple[str, bool, str], KeptRun] = {}
    for row in rows:
        run = KeptRun(*row)
        newest.setdefault((run.account, run.livemode, run.month or ""), run)
    return list(newest.values())


def record(engine: Engine, request: RunRequest, run: dict[str, Any]) -> KeptRun:
    """Note a run Stripe just made for ``request``."""
    now = int(time.time())
    with db.transaction(engine) as conn:
        conn.execute(insert(report_runs_t).values(
            id=run["id"], account=request.account, livemode=request.livemode,
            report_type=request.report_type, month=request.month,
            interval_start=request.interval_start, interval_end=request.interval_end,
            timezone=request.timezone, columns=",".join(request.columns),
            request_key=request.key, status=run.get("status") or "pending", error=run.get("error"),
            result_file=_file_id(run), result_url=_file_url(run), created=int(run.get("created") or now),
            updated_at=now))
    found = get(engine, run["id"])
    assert found is not None
    return found


def note(engine: Engine, run: dict[str, Any]) -> bool:
    """Bring a recorded run up to what Stripe says of it (``reporting.report_run`` object);
    False when the indexer never started that run."""
    with db.transaction(engine) as conn:
        changed = conn.execute(update(report_runs_t).where(r.id == run["id"]).values(
            status=run.get("status") or "pending", error=run.get("error"),
            result_file=_file_id(run), result_url=_file_url(run), updated_at=int(time.time())))
        return bool(changed.rowcount)


def keep_file(engine: Engine, run_id: str, source: IO[bytes]) -> int:
    """Keep a run's file (read from ``source``), replacing any earlier copy; its size."""
    size = 0
    with db.transaction(engine) as conn:
        conn.execute(delete(report_chunks_t).where(ch.run_id == run_id))
        seq = 0
        while block := source.read(CHUNK):
            conn.execute(insert(report_chunks_t).values(run_id=run_id, seq=seq, data=block))
            size += len(block)
            seq += 1
        conn.execute(update(report_runs_t).where(r.id == run_id).values(
            file_size=size, kept_at=int(time.time()), updated_at=int(time.time())))
    return size


def file_pieces(engine: Engine, run_id: str) -> Iterator[bytes]:
    """A kept file, a piece at a time (one piece in memory)."""
    seq = 0
    while True:
        block = db.read(engine, lambda c, at=seq: c.execute(
            select(ch.data).where(ch.run_id == run_id, ch.seq == at)).scalar())
        if block is None:
            return
        yield bytes(block)
        seq += 1


def _file_id(run: dict[str, Any]) -> str | None:
    result = run.get("result")
    return result.get("id") if isinstance(result, dict) else result


def _file_url(run: dict[str, Any]) -> str | None:
    result = run.get("result")
    return result.get("url") if isinstance(result, dict) else None
