"""Catch-up meets events that ``parse_event`` refuses (a payload shape from a newer API
version, a value no column takes): each is stored as ``failed`` with its reason, the listing
goes on, and every readable event is stored and applied as without them.

Fails if a refused event aborts the run (before the fix: ``SignatureError`` escaped and every
rerun stopped at the same page), if one is lost or stored twice, or if a readable one is lost.
"""

from __future__ import annotations

import copy
import zlib
from typing import Any

import pytest
from sqlalchemy import Engine, select

from indexer import db, models, stripe_api
from indexer.ingest import catchup
from indexer.stripe_api import StripeAPI
from tests.history.conftest import History, client, history
from tests.ingest.conftest import sandbox_events, work


def _no_object(event: dict[str, Any]) -> None:
    event["data"]["object"] = None


def _list_object(event: dict[str, Any]) -> None:
    event["data"]["object"] = [event["data"]["object"]]


def _created_true(event: dict[str, Any]) -> None:
    event["created"] = True


def _long_type(event: dict[str, Any]) -> None:
    event["type"] = event["type"] + ".x" * 100


def _nul(event: dict[str, Any]) -> None:
    event["data"]["object"]["metadata"] = {"note": "a\x00b"}


def _long_object_id(event: dict[str, Any]) -> None:
    event["data"]["object"]["id"] = "cs_" + "x" * 300


def _long_id(event: dict[str, Any]) -> None:
    event["id"] = "evt_" + "y" * 300


def _no_livemode(event: dict[str, Any]) -> None:
    del event["livemode"]


#: What a listed event may turn into; each is refused by ``parse_event``.
CORRUPTIONS = (_no_object, _list_object, _created_true, _long_type, _nul, _long_object_id, _long_id, _no_livemode)


class Drifting(StripeAPI):
    """Stripe's ``/v1/events`` with every ``every``-th event corrupted (the same ones on each
    listing), as a payload shape change would reach the indexer."""

    def __init__(self, *args: Any, every: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.every = every
        self.corrupted: dict[str, str] = {}

    def page(self, path: str, params: Any, **kwargs: Any) -> stripe_api.Page:
        page = super().page(path, params, **kwargs)
        if path != "/v1/events":
            return page
        data = []
        for event in page.data:
            number = zlib.crc32(event["id"].encode())
            if number % self.every == 0 and event is not page.data[-1]:
                corrupt = CORRUPTIONS[number // self.every % len(CORRUPTIONS)]
                event = copy.deepcopy(event)
                self.corrupted[event["id"]] = corrupt.__name__
                corrupt(event)
            data.append(event)
        return stripe_api.Page(data, page.has_more)


@pytest.fixture
def shop(sandbox: Any) -> History:
    return history(sandbox.store, sessions=30, invoices=8)


def rows(engine: Engine) -> list[dict[str, Any]]:
    with db.transaction(engine) as conn:
        return [dict(r._mapping) for r in conn.execute(select(models.events_t))]


def test_refused_events_are_stored_failed_and_the_rest_goes_on(
    engine: Engine, sandbox: Any, shop: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stripe_api, "PAGE_LIMIT", 10)  # refused events on many pages, past the first
    every = sandbox_events(client(sandbox))
    drifting = Drifting("sk_test_drift", api_base=sandbox.url, rate=500.0, every=3)

    result = catchup.catch_up(engine, drifting)

    corrupted = drifting.corrupted
    assert len(corrupted) >= len(CORRUPTIONS)  # every kind of corruption was met
    assert result.listed == len(every)
    assert result.refused == len(corrupted)
    stored = rows(engine)
    assert len(stored) == len(every), "an event was lost or stored twice"
    failed = [row for row in stored if row["status"] == "failed"]
    assert len(failed) == len(corrupted)
    for row in failed:
        assert row["last_error"].startswith("catch-up could not read this event: "), row
        assert row["source"] == "catch-up" and row["livemode"] is False
        assert "\x00" not in row["payload"] and len(row["id"]) <= 255
    # each refused event is found again by its id, or (an unusable id) by its payload's hash
    refused_ids = {row["id"] for row in failed}
    assert {i for i, how in corrupted.items() if how != "_long_id"} <= refused_ids
    assert sum(1 for i in refused_ids if i.startswith("evt_unreadable_")) == list(corrupted.values()).count("_long_id")
    readable = {e["id"] for e in every} - set(corrupted)
    assert {row["id"] for row in stored if row["status"] == "pending"} == readable

    # a rerun stores nothing twice, refused or not
    again = catchup.catch_up(engine, Drifting("sk_test_drift", api_base=sandbox.url, rate=500.0, every=3),
                             since=min(e["created"] for e in every))
    assert again.stored == 0 and again.refused == 0
    assert len(rows(engine)) == len(every)

    # the worker applies every readable event and leaves the refused ones parked
    work(engine, client(sandbox))
    after = rows(engine)
    assert {row["id"] for row in after if row["status"] == "failed"} == refused_ids
    assert all(row["status"] in ("done", "skipped") for row in after if row["id"] in readable)


def test_refused_events_from_the_command_line(
    engine: Engine, sandbox: Any, shop: History, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``indexer catch-up`` exits 0, says how many could not be read and where to see why; the
    refused events are in ``indexer events --failed``."""
    from indexer.cli import main
    from tests.conftest import engine_url

    made: list[Drifting] = []

    class Drifting4(Drifting):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, every=4, **kwargs)
            made.append(self)

    monkeypatch.setattr(stripe_api, "StripeAPI", Drifting4)
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_cli")
    monkeypatch.setenv("STRIPE_API_BASE", sandbox.url)
    monkeypatch.setenv("DATABASE_URL", engine_url(engine))
    assert main(["catch-up"]) == 0
    out = capsys.readouterr()
    [drifting] = made
    assert drifting.corrupted
    assert f"{len(drifting.corrupted)} of them could not be read" in out.err
    assert main(["events", "--failed", "--limit", "1000"]) == 1  # 1: there are failed events
    listed = capsys.readouterr().out
    assert all(event_id in listed for event_id, how in drifting.corrupted.items() if how != "_long_id")
    assert listed.count("evt_unreadable_") == list(drifting.corrupted.values()).count("_long_id")

