"""bench/peer's own logic: the spec it gives the peer's migrations and how it judges an answer."""

from __future__ import annotations

import pytest

from bench.peer import run, spec
from stripe_sandbox import generator
from stripe_sandbox.store import Store


@pytest.fixture(scope="module")
def store() -> Store:
    s = Store()
    generator.generate(s, 150, 0, now=1_790_000_000)
    return s


def test_spec_has_one_schema_per_resource_with_typed_nullable_fields() -> None:
    schemas = spec.build()["components"]["schemas"]
    session = schemas["checkout_session"]
    assert session["x-resourceId"] == "checkout.session"
    props = session["properties"]
    assert props["created"] == {"type": "integer", "nullable": True}
    assert props["amount_total"] == {"type": "string", "nullable": True}  # null in the fixture
    assert props["livemode"]["type"] == "boolean"
    assert props["customer_details"]["type"] == "object"
    assert schemas["invoice"]["x-resourceId"] == "invoice"


def _answer(truth: run.Truth, payments: int = 1) -> dict[tuple[str, str], int]:
    return {(prod, who): payments for prod, whos in truth.pairs.items() for who in whos}


def test_the_truth_is_judged_right_and_every_gap_is_named(store: Store) -> None:
    truth = run.Truth(store)
    assert truth.cases["guests"] and truth.cases["session >100 lines"]
    judged = truth.judge(_answer(truth))
    assert (judged["missed"], judged["extra"], judged["refunded shown"]) == (0, 0, 0)
    assert judged["guests"] == f"{len(truth.cases['guests'])}/{len(truth.cases['guests'])}"

    guest = next(iter(truth.cases["guests"]))
    partial = _answer(truth)
    del partial[guest]
    partial[("prod_nobody", "cus_nobody")] = 1
    judged = truth.judge(partial)
    assert (judged["missed"], judged["extra"], judged["right"]) == (1, 1, False)
    assert judged["guests"] == f"{len(truth.cases['guests']) - 1}/{len(truth.cases['guests'])}"


def test_a_session_and_its_invoice_counted_twice_is_wrong(store: Store) -> None:
    truth = run.Truth(store)
    assert truth.cases["subscription sessions"]
    judged = truth.judge(_answer(truth, payments=2))
    assert judged["missed"] == 0 and judged["payments"] != judged["payments true"]
    assert judged["right"] is False


def test_the_sandbox_every_system_faces_enforces_one_limit(store: Store) -> None:
    """Like for like: the webhook path's sandbox (``run.serve``, bench/backfill.py's forked
    helper on a port of the bench's range) answers 429 above its limit, to any client, and
    counts them."""
    import urllib.error
    import urllib.request

    pid, url = run.serve(store, rate_limit=2)
    try:
        assert int(url.rsplit(":", 1)[1]) in run.PORT_RANGE
        statuses = []
        for _ in range(6):
            request = urllib.request.Request(f"{url}/v1/products?limit=1",
                                             headers={"Authorization": f"Bearer {run.KEY}"})
            try:
                statuses.append(urllib.request.urlopen(request, timeout=10).status)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
        total, limited = run.sandbox_requests(url)
    finally:
        run.ours_backfill.stop(pid)
    assert 429 in statuses and 200 in statuses
    assert (total, limited) == (6, statuses.count(429))
