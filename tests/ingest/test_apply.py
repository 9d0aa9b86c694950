"""The applier's batch plumbing: the families of one batch fetch at once and write in turn."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine

from indexer.ingest.apply import Applier, ClaimedEvent, Outcome
from indexer.stripe_api import StripeAPI


def claimed(event_id: str, event_type: str, obj_id: str) -> ClaimedEvent:
    return ClaimedEvent(event_id, event_type, "", False, 1_700_000_000, 1, {"id": obj_id})


def test_the_families_of_a_batch_fetch_at_once(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each family's handler waits for the other's at a barrier: applied one after another,
    the first would wait alone and the barrier would break."""
    meet = threading.Barrier(2, timeout=5)

    def handler(self: Applier, events: list[ClaimedEvent]) -> dict[str, Outcome]:
        meet.wait()
        return {event.id: None for event in events}

    monkeypatch.setattr(Applier, "_apply_sessions", handler)
    monkeypatch.setattr(Applier, "_apply_disputes", handler)
    applier = Applier(engine, StripeAPI("sk_test_apply", api_base="http://127.0.0.1:9"))
    try:
        outcomes = applier.apply([claimed("evt_1", "checkout.session.completed", "cs_test_1"),
                                  claimed("evt_2", "charge.dispute.created", "dp_1")])
    finally:
        applier.close()
    assert outcomes == {"evt_1": None, "evt_2": None}


def test_a_family_that_fails_together_is_applied_one_by_one_beside_the_others(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def sessions(self: Applier, events: list[ClaimedEvent]) -> dict[str, Outcome]:
        if len(events) > 1:
            raise RuntimeError("together")
        if events[0].id == "evt_bad":
            raise ValueError("this one")
        return {events[0].id: None}

    def disputes(self: Applier, events: list[ClaimedEvent]) -> dict[str, Any]:
        return {event.id: None for event in events}

    monkeypatch.setattr(Applier, "_apply_sessions", sessions)
    monkeypatch.setattr(Applier, "_apply_disputes", disputes)
    applier = Applier(engine, StripeAPI("sk_test_apply", api_base="http://127.0.0.1:9"))
    try:
        outcomes = applier.apply([claimed("evt_ok", "checkout.session.completed", "cs_test_1"),
                                  claimed("evt_bad", "checkout.session.expired", "cs_test_2"),
                                  claimed("evt_dp", "charge.dispute.closed", "dp_1")])
    finally:
        applier.close()
    assert outcomes["evt_ok"] is None and outcomes["evt_dp"] is None
    assert isinstance(outcomes["evt_bad"], ValueError)
