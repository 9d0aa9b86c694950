"""Poison events: a validly signed event whose payload the mapping cannot read costs that event,
never the worker. Each is caught for itself, recorded as its ``last_error``, parked (or retried
and parked at the attempts limit), and the events around it are applied, on both databases.

Stripe changes payload shapes with API versions, so these are the events a new field type
would make: ids that are numbers, objects without the fields their family reads, values of
every wrong type in every field of a real payload, and ids that try to choose a Stripe path.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from indexer import db, models
from indexer.errors import SignatureError
from indexer.ingest import event_store
from indexer.ingest.worker import EventsWaiting, Worker
from indexer.stripe_api import StripeAPI
from stripe_sandbox.render import Renderer, version
from stripe_sandbox.server import SandboxServer
from tests.conftest import make_event, product_object, serve_generated

KEY = "sk_test_poison"
T0 = 1_760_000_000


@pytest.fixture(scope="module")
def shop() -> Iterator[SandboxServer]:
    """A sandbox holding a small year of sales: real payloads of every family to spoil."""
    yield from serve_generated(60, 11)


def real_events(server: SandboxServer) -> list[dict[str, Any]]:
    renderer = Renderer(server.store)
    return [renderer.event(e, version(e.api_version)) for e in server.store.ordered("event", live=False)
            if not getattr(e, "account", None)]


def event(event_id: str, event_type: str, obj: Any, created: int = T0) -> dict[str, Any]:
    return make_event(event_id, obj=obj, type=event_type, created=created)


def product_event(n: int, created: int) -> dict[str, Any]:
    return event(f"evt_good_{n}", "product.updated", product_object(f"prod_good_{n}", f"Good {n}", created=created), created)


def deliver(engine: Engine, events: list[dict[str, Any]], *, refused_ok: bool = False) -> int:
    """Store as the webhook would; with ``refused_ok`` what it refuses (400) is left out."""
    stored = 0
    with db.transaction(engine) as conn:
        for e in events:
            try:
                stored += event_store.store_event(conn, json.dumps(e), source="webhook")
            except SignatureError:
                if not refused_ok:
                    raise
    return stored


def run(engine: Engine, url: str, **options: Any) -> Worker:
    worker = Worker(engine, StripeAPI(KEY, api_base=url, rate=1000.0, max_retries=0), batch_size=100,
                    once_retry_patience=0, **options)
    try:
        worker.run(once=True)
    except EventsWaiting:
        pass
    finally:
        worker.close()
    return worker


def rows(engine: Engine) -> dict[str, Any]:
    e = models.events_t.c
    with db.transaction(engine) as conn:
        return {r.id: r for r in conn.execute(select(e.id, e.type, e.status, e.attempts, e.last_error))}


def test_the_reported_poison_events_are_parked_and_the_batch_around_them_applied(
    shop: SandboxServer, engine: Engine
) -> None:
    """The three from issue 16: each used to escape the worker, keep its batch leased, and block
    the events behind it on every retry."""
    poison = [
        event("evt_poison_invoice", "invoice.paid", {"id": 5}, T0 + 1),
        event("evt_poison_dispute", "charge.dispute.created", {}, T0 + 2),
        event("evt_poison_refund", "refund.created", {"id": "re_poison", "object": "refund", "charge": 5}, T0 + 3),
    ]
    session = next(e for e in real_events(shop) if e["type"] == "checkout.session.completed")
    good = [product_event(0, T0), product_event(1, T0 + 4), session]
    deliver(engine, poison + good)
    worker = run(engine, shop.url)
    found = rows(engine)
    for e in poison:
        row = found[e["id"]]
        assert (row.status, row.attempts) == ("failed", 1), row
        assert "not a Stripe id" in row.last_error
    assert {found[e["id"]].status for e in good} == {"done"}
    assert worker.stats.failed == 3 and worker.stats.applied == 3


#: Payloads and the families that refuse them before any request (a bad id; a refund's bad
#: charge); elsewhere they name objects Stripe does not have, or hold fields of the wrong type,
#: and end either applied (nothing to write) or parked with Stripe's or the mapping's error.
#: An owner may choose a product's id, so the product family refuses fewer.
EVERY = frozenset({"session", "invoice", "refund", "dispute"})
POISON_OBJECTS: list[tuple[Any, frozenset[str]]] = [
    ({"id": 5}, EVERY),
    ({}, EVERY),
    ({"id": None, "object": 7}, EVERY),
    ({"id": ["cs_test_list"]}, EVERY),
    ({"id": "../../v1/customers"}, EVERY),
    ({"id": "cs_test_1/../../../v1/customers"}, EVERY),
    ({"id": "cs_test_1?expand[]=customer"}, EVERY),
    ({"id": "re_1", "object": "refund", "charge": {"id": 5}}, frozenset({"refund"})),
    ({"id": "re_2", "object": "refund", "charge": "../customers"}, frozenset({"refund"})),
    ({"id": "cs_" + "a" * 252}, frozenset()),
    ({"id": "ch_1", "object": "charge", "refunds": 5, "amount_refunded": "all"}, frozenset()),
    ({"id": "in_nowhere", "object": "invoice", "status": "paid", "lines": 5, "customer": ["x"]}, frozenset()),
    ({"id": "in_nowhere2", "object": "invoice", "status": "paid",
      "lines": {"object": "list", "data": [{"id": 5, "amount": "ten"}], "has_more": False}}, frozenset()),
    ({"id": "cs_test_missing", "object": "checkout.session", "created": "yesterday"}, frozenset()),
    ({"id": "du_missing", "object": "dispute", "charge": 5}, frozenset()),
]


def test_poison_events_of_every_applied_type_cost_one_event_each(shop: SandboxServer, engine: Engine) -> None:
    """Every applied type with payloads no handler can read: the worker returns, each poison
    event is settled (a refused id parked at once with its reason), no request leaves the
    Stripe paths the index reads, and a good event after every poisoned one is applied."""
    poison: list[tuple[dict[str, Any], bool]] = []
    good: list[dict[str, Any]] = []
    created = T0
    for event_type in sorted(event_store.APPLIED_TYPES):
        family = event_store.family_of(event_type)
        for n, (obj, refusing) in enumerate(POISON_OBJECTS):
            created += 1
            e = event(f"evt_p_{event_type.replace('.', '_')}_{n}", event_type, copy.deepcopy(obj), created)
            poison.append((e, family in refusing))
        created += 1
        good.append(product_event(len(good), created))
    deliver(engine, [e for e, _ in poison] + good)
    shop.reset_counts()
    run(engine, shop.url, max_attempts=2)
    run(engine, shop.url, max_attempts=2)
    found = rows(engine)
    for e, refused in poison:
        row = found[e["id"]]
        assert row.status in ("done", "failed") and row.attempts <= 2, row
        assert row.status == "done" or row.last_error, row
        if refused:
            assert (row.status, row.attempts) == ("failed", 1) and "not a Stripe id" in row.last_error, row
    assert {found[e["id"]].status for e in good} == {"done"}
    requested = set(shop.request_count)
    assert not any("customers" in family or "(unknown)" in family for family in requested), requested


MUTATIONS: list[Any] = [5, 2**70, True, None, "x", [5], {"id": 5}, {"object": "list", "data": 5}]
#: Families whose handler maps the payload itself: every spoiled copy gets an id of its own, so
#: that each is applied apart. The others read the object from Stripe by its id, so their copies
#: keep the real id (one Stripe read serves them all) and spoil what the handler reads besides.
MAPPED_FROM_PAYLOAD = {"invoice", "product"}


def spoiled(sample: dict[str, Any], types: list[str], prefix: str) -> Iterator[dict[str, Any]]:
    """``sample`` with one field of its object replaced by a value of another type, each in
    turn, under each of ``types`` in turn."""
    obj = sample["data"]["object"]
    unique = event_store.family_of(sample["type"]) in MAPPED_FROM_PAYLOAD
    n = 0
    for key in sorted(obj):
        for value in MUTATIONS:
            copy_ = copy.deepcopy(sample)
            target = copy_["data"]["object"]
            if unique and key != "id":
                target["id"] = f"{obj['id'][:40]}_{prefix}{n}"
            target[key] = value
            copy_["type"] = types[n % len(types)]
            copy_["id"] = f"evt_m_{prefix}_{n}"
            n += 1
            yield copy_


def test_real_payloads_with_any_field_of_another_type_never_stop_the_worker(
    shop: SandboxServer, engine: Engine
) -> None:
    """A real payload of each family, spoiled field by field with values of other JSON types and
    delivered under every applied type of the family: the worker settles every copy (parked or
    applied, never stuck), and the unspoiled events are applied."""
    samples: dict[str, dict[str, Any]] = {}
    for e in real_events(shop):
        samples.setdefault(event_store.family_of(e["type"]), e)
    spoiled_events: list[dict[str, Any]] = []
    families = {f: types for f, types in event_store.FAMILIES.items() if f in samples}
    assert families.keys() >= {"session", "invoice", "refund", "dispute", "product"}
    for family, types in families.items():
        spoiled_events.extend(spoiled(samples[family], sorted(types), family))
    originals = [samples[family] for family in families]
    stored = deliver(engine, spoiled_events + originals, refused_ok=True)
    run(engine, shop.url, max_attempts=1)
    found = rows(engine)
    assert {row.status for row in found.values()} <= {"done", "skipped", "failed"}
    assert all(row.last_error for row in found.values() if row.status == "failed")
    assert {found[e["id"]].status for e in originals} == {"done"}
    assert len(found) == stored > 500
    assert {row.type for row in found.values()} >= {t for f in families.values() for t in f}
