"""``indexer events`` and ``indexer events retry``: the stored webhook events, their state and how
many wait; failed ones replayed."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from indexer import db
from indexer.commands import FAILED_EVENTS_EXIT, output_to_a_reader_who_may_leave, params
from indexer.commands.resources import open_index
from indexer.errors import NotFound, UsageError
from indexer.ingest import event_store


@click.group(invoke_without_command=True)
@click.option("--failed", is_flag=True,
              help=f"Only events parked as failed; exit {FAILED_EVENTS_EXIT} if there are any.")
@click.option("--limit", type=params.POSITIVE, default=50, help="Show at most this many, newest first.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              help="A table with a summary, or a JSON array (the summary then goes to stderr).")
@click.pass_context
def events(ctx: click.Context, failed: bool, limit: int, fmt: str) -> int:
    """Stored webhook events and their state.

    Lists the newest events, then how many are in each state (pending, done, skipped,
    failed). `indexer events retry` puts failed ones back in the queue. Reads DATABASE_URL."""
    if ctx.invoked_subcommand is not None:
        return 0
    engine = open_index()
    try:
        rows, counts = db.read(engine, lambda conn: (
            event_store.list_events(conn, failed=failed, limit=limit), event_store.count_events(conn)))
    finally:
        engine.dispose()
    with output_to_a_reader_who_may_leave():
        if fmt == "json":
            click.echo(json.dumps(rows, indent=2))
        else:
            for row in rows:
                click.echo(_line(row))
        for line in summary(rows, counts, failed=failed, limit=limit):
            click.echo(line, err=fmt == "json")
    return FAILED_EVENTS_EXIT if failed and counts["failed"] else 0


def summary(rows: list[dict[str, Any]], counts: dict[str, int], *, failed: bool, limit: int) -> list[str]:
    """What the list leaves out: more rows than shown, and the count of each state."""
    total = counts["failed"] if failed else sum(counts.values())
    what = "failed events" if failed else "events"
    lines = []
    if not rows:
        lines.append("no failed events" if failed else "no events stored yet")
    elif total > len(rows):
        lines.append(f"showing the newest {len(rows)} of {total:,} {what}; --limit {total} shows them all")
    states = ", ".join(f"{count:,} {status}" for status, count in counts.items())
    lines.append(f"events: {states}")
    if counts["failed"]:
        lines.append("failed events wait for `indexer events retry ID...|--all` once the cause is fixed")
    return lines


def _line(row: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(row["created"]))
    error = f"  {row['last_error']}" if row["last_error"] else ""
    return f"{row['id']}  {row['type']:<42} {row['status']:<8} attempts={row['attempts']}  {when}{error}"


@events.command()
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--all", "every", is_flag=True, help="Every failed event.")
def retry(ids: tuple[str, ...], every: bool) -> None:
    """Put failed events back in the queue.

    `indexer worker` then applies them again. Give their ids, or --all."""
    if bool(ids) == every:
        raise UsageError("give failed event ids or --all (not both)", param="ids")
    engine = open_index()
    try:
        with db.transaction(engine) as conn:
            count = event_store.requeue_events(conn, None if every else ids)
    finally:
        engine.dispose()
    if ids and count < len(set(ids)):
        raise NotFound(f"requeued {count} of {len(set(ids))}: the others are not failed events")
    click.echo(f"requeued {count} event(s); `indexer worker` will apply them")
