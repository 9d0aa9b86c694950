"""The sandbox over real HTTP, through the official SDK: create, list, retrieve, page, expand, errors.

Each test starts from the ``sandbox`` fixture (an empty store behind a real server) or its own
server when it needs a knob (rate limit, failures, latency).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import requests
import stripe

from stripe_sandbox.server import SandboxServer
from stripe_sandbox.store import Store

KEY = "sk_test_sandbox0001"
LIVE_KEY = "rk_live_sandbox0001"
OLD = "2025-02-24.acacia"


def client(url: str, key: str = KEY, **kw: Any) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": url}, max_network_retries=0, **kw)


def sbx(url: str, path: str, **body: Any) -> dict[str, Any]:
    """A sandbox-only action (what a buyer does in a browser)."""
    resp = requests.post(f"{url}{path}", json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def raw(url: str, path: str, params: Any = None, key: str | None = KEY,
        **headers: str) -> requests.Response:
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return requests.get(f"{url}{path}", params=params, headers=headers, timeout=10)


@pytest.fixture
def sdk(sandbox: SandboxServer) -> stripe.StripeClient:
    return client(sandbox.url)


def catalog(sdk: stripe.StripeClient, n_prices: int = 1) -> tuple[Any, list[Any]]:
    prod = sdk.v1.products.create(params={"name": "Course"})
    prices = [sdk.v1.prices.create(params={"product": prod.id, "currency": "usd",
                                           "unit_amount": 1000 + i}) for i in range(n_prices)]
    return prod, prices


def paid_session(sdk: stripe.StripeClient, url: str, prices: list[Any], email: str = "Ann@X.io",
                 **extra: Any) -> dict[str, Any]:
    sess = sdk.v1.checkout.sessions.create(params={
        "mode": "payment", "success_url": "https://example.com/ok",
        "line_items": [{"price": p.id, "quantity": 1} for p in prices], **extra})
    return sbx(url, f"/sandbox/checkout/sessions/{sess.id}/complete", email=email, name="Ann")


# -- create / retrieve ------------------------------------------------------------------------


def test_catalog_create_retrieve_update_delete(sdk: stripe.StripeClient) -> None:
    prod = sdk.v1.products.create(params={"name": "Book", "metadata": {"sku": "b1"},
                                          "default_price_data": {"currency": "eur",
                                                                 "unit_amount": 900}})
    assert prod.name == "Book" and prod.metadata["sku"] == "b1" and prod.livemode is False
    price = sdk.v1.prices.retrieve(prod.default_price)
    assert (price.product, price.currency, price.unit_amount, price.type) == (
        prod.id, "eur", 900, "one_time")
    monthly = sdk.v1.prices.create(params={"product": prod.id, "currency": "eur",
                                           "unit_amount": 300, "recurring": {"interval": "month"}})
    assert monthly.type == "recurring" and monthly.recurring.interval == "month"
    updated = sdk.v1.products.update(prod.id, params={"name": "Book 2", "metadata": {"sku": ""}})
    assert updated.name == "Book 2" and updated.metadata.to_dict() == {}
    assert sdk.v1.products.retrieve(prod.id).name == "Book 2"
    with pytest.raises(stripe.InvalidRequestError) as err:
        sdk.v1.products.delete(prod.id)
    assert err.value.code == "product_has_prices"
    bare = sdk.v1.products.create(params={"name": "Gone", "id": "prod_custom1"})
    assert bare.id == "prod_custom1"
    deleted = sdk.v1.products.delete(bare.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError) as err:
        sdk.v1.products.retrieve(bare.id)
    assert err.value.http_status == 404
    assert [p.id for p in sdk.v1.products.list().data] == [prod.id]
    types = [e.type for e in sdk.v1.events.list(params={"limit": 100}).data]
    assert "product.deleted" in types and "product.updated" in types


def test_customer_and_email_filter(sdk: stripe.StripeClient) -> None:
    a = sdk.v1.customers.create(params={"email": "a@x.io", "name": "A",
                                        "address": {"country": "DE", "city": "Berlin"}})
    sdk.v1.customers.create(params={"email": "b@x.io"})
    assert sdk.v1.customers.retrieve(a.id).address.city == "Berlin"
    found = sdk.v1.customers.list(params={"email": "a@x.io"}).data
    assert [c.id for c in found] == [a.id]
    assert sdk.v1.customers.list(params={"email": "A@x.io"}).data == []


def test_guest_checkout_paid_and_line_items(sdk: stripe.StripeClient,
                                            sandbox: SandboxServer) -> None:
    _, prices = catalog(sdk, 12)
    done = paid_session(sdk, sandbox.url, prices, email="Mixed.Case@Example.com")
    assert done["status"] == "complete" and done["payment_status"] == "paid"
    assert done["customer"] is None
    assert done["customer_details"]["email"] == "Mixed.Case@Example.com"
    sess = sdk.v1.checkout.sessions.retrieve(
        done["id"], params={"expand": ["line_items", "line_items.data.price.product"]})
    assert len(sess.line_items.data) == 10 and sess.line_items.has_more is True
    assert sess.line_items.data[0].price.product.name == "Course"
    assert sess.amount_total == sum(p.unit_amount for p in prices)
    # all line items, paged forwards in creation order and back again
    first = sdk.v1.checkout.sessions.line_items.list(done["id"], params={"limit": 5})
    ids = [x.id for x in first.data]
    page = first
    while page.has_more:
        page = sdk.v1.checkout.sessions.line_items.list(
            done["id"], params={"limit": 5, "starting_after": page.data[-1].id})
        ids += [x.id for x in page.data]
    assert len(ids) == 12 == len(set(ids))
    assert [x.price.id for x in sdk.v1.checkout.sessions.line_items.list(
        done["id"], params={"limit": 100}).data] == [p.id for p in prices]
    back = sdk.v1.checkout.sessions.line_items.list(
        done["id"], params={"limit": 5, "ending_before": ids[-1]})
    assert [x.id for x in back.data] == ids[6:11] and back.has_more is True
    every = [x.id for x in sdk.v1.checkout.sessions.line_items.list(
        done["id"], params={"limit": 3}).auto_paging_iter()]
    assert every == ids
    pi = sdk.v1.payment_intents.retrieve(done["payment_intent"])
    assert pi.status == "succeeded" and pi.amount == done["amount_total"]
    charge = sdk.v1.charges.retrieve(pi.latest_charge)
    assert charge.paid and charge.billing_details.email == "Mixed.Case@Example.com"
    assert [c.id for c in sdk.v1.charges.list(
        params={"payment_intent": pi.id}).data] == [charge.id]


def test_payment_link_sessions_and_line_items(sdk: stripe.StripeClient,
                                              sandbox: SandboxServer) -> None:
    _, prices = catalog(sdk, 3)
    link = sdk.v1.payment_links.create(params={
        "line_items": [{"price": p.id, "quantity": i + 1} for i, p in enumerate(prices)]})
    assert link.url.startswith("https://buy.stripe.com/test_")
    assert sdk.v1.payment_links.retrieve(link.id, params={
        "expand": ["line_items"]}).line_items.data[2].quantity == 3
    items = sdk.v1.payment_links.line_items.list(link.id, params={"limit": 2})
    assert len(items.data) == 2 and items.has_more
    opened = [sbx(sandbox.url, f"/sandbox/payment_links/{link.id}/sessions") for _ in range(3)]
    for sess in opened[:2]:
        sbx(sandbox.url, f"/sandbox/checkout/sessions/{sess['id']}/complete", email="l@x.io")
    sdk.v1.checkout.sessions.create(params={"mode": "payment", "line_items": [
        {"price": prices[0].id, "quantity": 1}]})
    by_link = sdk.v1.checkout.sessions.list(params={"payment_link": link.id}).data
    assert [s.id for s in by_link] == [s["id"] for s in reversed(opened)]
    complete = sdk.v1.checkout.sessions.list(params={"payment_link": link.id,
                                                     "status": "complete"}).data
    assert [s.id for s in complete] == [opened[1]["id"], opened[0]["id"]]
    assert sdk.v1.payment_links.list().data[0].id == link.id


def test_delayed_payments_expire_and_status_filter(sdk: stripe.StripeClient,
                                                   sandbox: SandboxServer) -> None:
    _, prices = catalog(sdk)
    line = [{"price": prices[0].id, "quantity": 1}]
    made = [sdk.v1.checkout.sessions.create(params={"mode": "payment", "line_items": line})
            for _ in range(4)]
    ok = sbx(sandbox.url, f"/sandbox/checkout/sessions/{made[0].id}/complete",
             outcome="delayed_succeeded")
    bad = sbx(sandbox.url, f"/sandbox/checkout/sessions/{made[1].id}/complete",
              outcome="delayed_failed")
    pending = sbx(sandbox.url, f"/sandbox/checkout/sessions/{made[2].id}/complete",
                  outcome="delayed")
    assert (ok["payment_status"], bad["payment_status"], pending["payment_status"]) == (
        "paid", "unpaid", "unpaid")
    settled = sbx(sandbox.url, f"/sandbox/checkout/sessions/{made[2].id}/settle", succeeded=True)
    assert settled["payment_status"] == "paid"
    expired = sdk.v1.checkout.sessions.expire(made[3].id)
    assert expired.status == "expired"
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.checkout.sessions.expire(made[3].id)
    statuses = {s: [x.id for x in sdk.v1.checkout.sessions.list(params={"status": s}).data]
                for s in ("open", "complete", "expired")}
    assert statuses == {"open": [], "expired": [made[3].id],
                        "complete": [made[2].id, made[1].id, made[0].id]}
    types = [e.type for e in sdk.v1.events.list(params={"types": [
        "checkout.session.async_payment_succeeded", "checkout.session.async_payment_failed"],
    }).data]
    assert sorted(types) == ["checkout.session.async_payment_failed",
                             "checkout.session.async_payment_succeeded",
                             "checkout.session.async_payment_succeeded"]
    by_pi = sdk.v1.checkout.sessions.list(params={"payment_intent": ok["payment_intent"]}).data
    assert [s.id for s in by_pi] == [ok["id"]]


def test_subscription_checkout_invoice_shapes_and_renewal(sdk: stripe.StripeClient,
                                                          sandbox: SandboxServer) -> None:
    prod = sdk.v1.products.create(params={"name": "Club"})
    monthly = sdk.v1.prices.create(params={"product": prod.id, "currency": "usd",
                                           "unit_amount": 500, "recurring": {"interval": "month"}})
    sess = sdk.v1.checkout.sessions.create(params={
        "mode": "subscription", "line_items": [{"price": monthly.id, "quantity": 2}]})
    done = sbx(sandbox.url, f"/sandbox/checkout/sessions/{sess.id}/complete", email="s@x.io")
    assert done["subscription"] and done["invoice"] and done["customer"]
    sub = sdk.v1.subscriptions.retrieve(done["subscription"])
    assert sub.status == "active" and sub.latest_invoice == done["invoice"]
    assert [s.id for s in sdk.v1.checkout.sessions.list(
        params={"subscription": sub.id}).data] == [sess.id]
    assert [s.id for s in sdk.v1.checkout.sessions.list(
        params={"customer": done["customer"]}).data] == [sess.id]
    renewal = sbx(sandbox.url, f"/sandbox/subscriptions/{sub.id}/advance")
    assert renewal["status"] == "paid" and renewal["billing_reason"] == "subscription_cycle"
    invoices = sdk.v1.invoices.list(params={"subscription": sub.id}).data
    assert [i.id for i in invoices] == [renewal["id"], done["invoice"]]
    assert [i.id for i in sdk.v1.invoices.list(params={"customer": done["customer"],
                                                       "status": "paid"}).data] == [
        renewal["id"], done["invoice"]]
    # current shape (the SDK's version): parent + pricing.price_details
    new = sdk.v1.invoices.retrieve(renewal["id"], params={"expand": ["payments"]})
    line = new.lines.data[0]
    assert new.parent.subscription_details.subscription == sub.id
    assert line.pricing.price_details.product == prod.id and line.quantity == 2
    assert new.payments.data[0].payment.payment_intent
    assert "subscription" not in new.to_dict() and "payment_intent" not in new.to_dict()
    # pre-basil shape, selected by Stripe-Version
    old = raw(sandbox.url, f"/v1/invoices/{renewal['id']}", **{"Stripe-Version": OLD}).json()
    assert old["subscription"] == sub.id and old["payment_intent"]
    assert old["lines"]["data"][0]["price"]["product"] == prod.id
    assert "parent" not in old and "pricing" not in old["lines"]["data"][0]
    old_lines = raw(sandbox.url, f"/v1/invoices/{renewal['id']}/lines",
                    **{"Stripe-Version": OLD}).json()
    assert old_lines["data"][0]["type"] == "subscription"
    listed = sdk.v1.subscriptions.list(params={"price": monthly.id}).data
    assert [s.id for s in listed] == [sub.id]
    assert sdk.v1.subscriptions.list(params={"status": "canceled"}).data == []
    sdk.v1.subscriptions.cancel(sub.id)
    assert sdk.v1.subscriptions.list(params={"price": monthly.id}).data == []
    assert len(sdk.v1.subscriptions.list(params={"status": "all"}).data) == 1


def test_elements_invoice_with_many_lines(sdk: stripe.StripeClient) -> None:
    _, prices = catalog(sdk, 12)
    cus = sdk.v1.customers.create(params={"email": "e@x.io", "name": "E"})
    for p in prices:
        sdk.v1.invoice_items.create(params={"customer": cus.id, "pricing": {"price": p.id}})
    sdk.v1.invoice_items.create(params={"customer": cus.id, "amount": 250, "currency": "usd",
                                        "description": "Setup fee"})
    inv = sdk.v1.invoices.create(params={"customer": cus.id,
                                         "pending_invoice_items_behavior": "include"})
    assert inv.status == "draft" and len(inv.lines.data) == 10 and inv.lines.has_more
    inv = sdk.v1.invoices.finalize_invoice(inv.id)
    assert inv.status == "open" and inv.number
    paid = sdk.v1.invoices.pay(inv.id)
    assert paid.status == "paid" and paid.amount_paid == sum(p.unit_amount for p in prices) + 250
    lines = list(sdk.v1.invoices.line_items.list(inv.id, params={"limit": 4}).auto_paging_iter())
    assert len(lines) == 13 and lines[-1].pricing is None and lines[-1].amount == 250
    assert sdk.v1.invoices.list(params={"status": "paid"}).data[0].id == inv.id
    assert sdk.v1.invoices.list(params={"status": "draft"}).data == []
    oob = sdk.v1.invoices.create(params={"customer": cus.id})
    sdk.v1.invoice_items.create(params={"customer": cus.id, "invoice": oob.id,
                                        "pricing": {"price": prices[0].id}})
    oob = sdk.v1.invoices.pay(oob.id, params={"paid_out_of_band": True})
    assert oob.status == "paid" and oob.to_dict().get("amount_paid_off_stripe") == 1000


def test_refunds_and_disputes(sdk: stripe.StripeClient, sandbox: SandboxServer) -> None:
    _, prices = catalog(sdk)
    a = paid_session(sdk, sandbox.url, prices)
    b = paid_session(sdk, sandbox.url, prices)
    charge_a = sdk.v1.payment_intents.retrieve(a["payment_intent"]).latest_charge
    part = sdk.v1.refunds.create(params={"charge": charge_a, "amount": 300})
    rest = sdk.v1.refunds.create(params={"payment_intent": a["payment_intent"]})
    assert (part.amount, rest.amount, rest.status) == (300, 700, "succeeded")
    assert sdk.v1.charges.retrieve(charge_a).refunded is True
    with pytest.raises(stripe.InvalidRequestError) as err:
        sdk.v1.refunds.create(params={"charge": charge_a})
    assert err.value.code == "charge_already_refunded"
    assert [x.id for x in sdk.v1.refunds.list(params={"charge": charge_a}).data] == [
        rest.id, part.id]
    assert [x.id for x in sdk.v1.refunds.list(
        params={"payment_intent": a["payment_intent"], "limit": 1}).data] == [rest.id]
    assert sdk.v1.refunds.retrieve(part.id).amount == 300
    expanded = sdk.v1.charges.retrieve(charge_a, params={"expand": ["refunds"]})
    assert len(expanded.refunds.data) == 2
    dispute = sbx(sandbox.url, "/sandbox/disputes", payment_intent=b["payment_intent"],
                  reason="product_not_received")
    assert dispute["status"] == "needs_response"
    assert sdk.v1.disputes.retrieve(dispute["id"]).reason == "product_not_received"
    closed = sbx(sandbox.url, f"/sandbox/disputes/{dispute['id']}/close", won=False)
    assert closed["status"] == "lost"
    assert [d.id for d in sdk.v1.disputes.list(params={
        "payment_intent": b["payment_intent"]}).data] == [dispute["id"]]
    types = {e.type for e in sdk.v1.events.list(params={"type": "charge.dispute.*"}).data}
    assert types == {"charge.dispute.created", "charge.dispute.funds_withdrawn",
                     "charge.dispute.closed"}


# -- lists --------------------------------------------------------------------------------------


def test_pagination_both_directions_and_created_ranges(sdk: stripe.StripeClient,
                                                       sandbox: SandboxServer) -> None:
    clock = [1_750_000_000]
    sandbox.store.clock = lambda: clock[0]
    made = []
    for i in range(25):
        clock[0] += 10
        made.append(sdk.v1.products.create(params={"name": f"P{i}"}).id)
    newest_first = list(reversed(made))
    page = sdk.v1.products.list()
    assert [p.id for p in page.data] == newest_first[:10] and page.has_more
    assert page.url == "/v1/products"
    seen = [p.id for p in page.data]
    while page.has_more:
        page = sdk.v1.products.list(params={"starting_after": page.data[-1].id})
        seen += [p.id for p in page.data]
    assert seen == newest_first
    back = sdk.v1.products.list(params={"ending_before": made[0], "limit": 7})
    assert [p.id for p in back.data] == newest_first[-8:-1] and back.has_more
    top = sdk.v1.products.list(params={"ending_before": made[-3]})
    assert [p.id for p in top.data] == newest_first[:2] and top.has_more is False
    assert [p.id for p in sdk.v1.products.list(params={"limit": 100}).auto_paging_iter()] == seen
    base = 1_750_000_000
    window = sdk.v1.products.list(params={"created": {"gt": base + 50, "lte": base + 100}})
    assert [p.id for p in window.data] == newest_first[15:20]
    exact = sdk.v1.products.list(params={"created": base + 30})
    assert [p.id for p in exact.data] == [made[2]]
    with pytest.raises(stripe.InvalidRequestError) as err:
        sdk.v1.products.list(params={"starting_after": made[1], "ending_before": made[2]})
    assert err.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as err:
        sdk.v1.products.list(params={"limit": 101})
    assert err.value.param == "limit"
    with pytest.raises(stripe.InvalidRequestError) as err:
        sdk.v1.products.list(params={"starting_after": "prod_missing"})
    assert err.value.param == "starting_after"


def test_sessions_list_expand_line_items(sdk: stripe.StripeClient,
                                         sandbox: SandboxServer) -> None:
    _, prices = catalog(sdk, 12)
    big = paid_session(sdk, sandbox.url, prices)
    small = paid_session(sdk, sandbox.url, prices[:2])
    page = sdk.v1.checkout.sessions.list(params={"expand": ["data.line_items"], "limit": 100})
    by_id = {s.id: s for s in page.data}
    assert len(by_id[big["id"]].line_items.data) == 10
    assert by_id[big["id"]].line_items.has_more is True
    assert by_id[small["id"]].line_items.has_more is False
    assert by_id[small["id"]].line_items.url == f"/v1/checkout/sessions/{small['id']}/line_items"
    deep = sdk.v1.checkout.sessions.list(params={"expand": ["data.line_items.data.price"]})
    assert deep.data[0].line_items.data[0].price.id == prices[0].id
    with pytest.raises(stripe.InvalidRequestError) as err:
        sdk.v1.checkout.sessions.list(params={
            "expand": ["data.line_items.data.price.product"]})
    assert "more than 4 levels" in str(err.value.user_message) and err.value.param == "expand"
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.checkout.sessions.list(params={"expand": ["line_items"]})
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.checkout.sessions.retrieve(big["id"], params={"expand": ["mode"]})
    plain = sdk.v1.checkout.sessions.retrieve(big["id"]).to_dict()
    assert "line_items" not in plain


def test_price_filters(sdk: stripe.StripeClient) -> None:
    a, (one,) = catalog(sdk)
    b = sdk.v1.products.create(params={"name": "Other"})
    rec = sdk.v1.prices.create(params={"product": b.id, "currency": "usd", "unit_amount": 5,
                                       "recurring": {"interval": "year"}, "active": False})
    assert [p.id for p in sdk.v1.prices.list(params={"product": a.id}).data] == [one.id]
    assert [p.id for p in sdk.v1.prices.list(params={"type": "recurring"}).data] == [rec.id]
    assert [p.id for p in sdk.v1.prices.list(params={"active": True}).data] == [one.id]
    assert [p.id for p in sdk.v1.prices.list(params={"active": False,
                                                     "product": b.id}).data] == [rec.id]


def test_events_filters_retention_and_frozen_versions(sdk: stripe.StripeClient,
                                                      sandbox: SandboxServer) -> None:
    store = sandbox.store
    now = int(time.time())
    clock = [now - 40 * 86400]
    store.clock = lambda: clock[0]
    ancient = sdk.v1.products.create(params={"name": "Ancient"})
    clock[0] = now - 100
    store.api_version = OLD
    cus = sdk.v1.customers.create(params={"email": "v@x.io"})
    prod, (price,) = catalog(sdk)
    old_item = sdk.v1.invoice_items.create(params={"customer": cus.id,
                                                   "pricing": {"price": price.id}})
    old_inv = sdk.v1.invoices.create(params={"customer": cus.id,
                                             "pending_invoice_items_behavior": "include"})
    clock[0] = now - 50
    store.api_version = stripe.api_version
    new_inv = sdk.v1.invoices.create(params={"customer": cus.id})
    clock[0] = now
    created = sdk.v1.events.list(params={"type": "invoice.created"}).data
    assert [e.data.object.id for e in created] == [new_inv.id, old_inv.id]
    new_ev, old_ev = created
    assert old_ev.api_version == OLD and new_ev.api_version == stripe.api_version
    old_payload = old_ev.data.object.to_dict()
    assert "price" in old_payload["lines"]["data"][0] and "parent" not in old_payload
    assert "parent" in new_ev.data.object.to_dict()
    assert sdk.v1.events.retrieve(old_ev.id).api_version == OLD
    item_ev = sdk.v1.events.list(params={"type": "invoiceitem.created"}).data[0]
    assert item_ev.data.object.id == old_item.id and "price" in item_ev.data.object.to_dict()
    # 30-day retention: the product made 40 days ago has its event no more
    ids = [e.data.object.id for e in sdk.v1.events.list(params={"limit": 100}).data]
    assert prod.id in ids and ancient.id not in ids
    old_event = next(e for e in store.events.values() if e.obj.id == ancient.id)
    with pytest.raises(stripe.InvalidRequestError) as err:
        sdk.v1.events.retrieve(old_event.id)
    assert err.value.http_status == 404
    window = sdk.v1.events.list(params={"created": {"gte": now - 60}, "limit": 100}).data
    assert {e.type for e in window} == {"invoice.created"}
    with pytest.raises(stripe.InvalidRequestError) as err:
        sdk.v1.events.list(params={"type": "invoice.created", "types": ["invoice.paid"]})
    assert err.value.http_status == 400


def test_modes_and_connect_accounts_never_mix(sandbox: SandboxServer) -> None:
    test = client(sandbox.url)
    live = client(sandbox.url, LIVE_KEY)
    acct = client(sandbox.url, stripe_account="acct_1SandboxConnect")
    t = test.v1.products.create(params={"name": "test"})
    lv = live.v1.products.create(params={"name": "live"})
    c = acct.v1.products.create(params={"name": "connect"})
    assert (t.livemode, lv.livemode, c.livemode) == (False, True, False)
    assert [p.id for p in test.v1.products.list().data] == [t.id]
    assert [p.id for p in live.v1.products.list().data] == [lv.id]
    assert [p.id for p in acct.v1.products.list().data] == [c.id]
    with pytest.raises(stripe.InvalidRequestError) as err:
        live.v1.products.retrieve(t.id)
    assert "similar object exists in test mode" in str(err.value.user_message)
    with pytest.raises(stripe.InvalidRequestError):
        test.v1.products.retrieve(c.id)
    events = acct.v1.events.list().data
    assert [e.to_dict()["account"] for e in events] == ["acct_1SandboxConnect"]
    assert "account" not in test.v1.events.list().data[0].to_dict()


# -- errors and knobs ---------------------------------------------------------------------------


def test_auth_and_param_errors(sandbox: SandboxServer) -> None:
    resp = raw(sandbox.url, "/v1/products", key=None)
    assert resp.status_code == 401 and resp.json()["error"]["type"] == "invalid_request_error"
    assert resp.headers["Request-Id"].startswith("req_")
    with pytest.raises(stripe.AuthenticationError):
        client(sandbox.url, "pk_test_nope").v1.products.list()
    with pytest.raises(stripe.AuthenticationError):
        client(sandbox.url, "sk_test_").v1.products.list()
    sdk = client(sandbox.url)
    with pytest.raises(stripe.InvalidRequestError) as err:
        sdk.v1.products.create(params={"name": "x", "colour": "red"})  # type: ignore[typeddict-unknown-key]
    assert (err.value.http_status, err.value.code, err.value.param) == (
        400, "parameter_unknown", "colour")
    with pytest.raises(stripe.InvalidRequestError) as err:
        sdk.v1.checkout.sessions.list(params={"product": "prod_x"})  # type: ignore[typeddict-unknown-key]
    assert err.value.param == "product"
    with pytest.raises(stripe.InvalidRequestError) as err:
        sdk.v1.products.create(params={})  # type: ignore[typeddict-item]
    assert err.value.code == "parameter_missing" and err.value.param == "name"
    with pytest.raises(stripe.InvalidRequestError) as err:
        sdk.v1.checkout.sessions.retrieve("cs_test_missing")
    assert (err.value.http_status, err.value.code, err.value.param) == (
        404, "resource_missing", "id")
    with pytest.raises(stripe.InvalidRequestError) as err:
        sdk.v1.checkout.sessions.create(params={"mode": "payment", "line_items": [
            {"price": "price_nope", "quantity": 1}]})
    assert (err.value.http_status, err.value.param) == (400, "line_items[0][price]")
    resp = raw(sandbox.url, "/v1/nothing_here")
    assert resp.status_code == 404 and "Unrecognized request URL" in resp.json()["error"]["message"]
    resp = raw(sandbox.url, "/v1/products", **{"Stripe-Version": "yesterday"})
    assert resp.status_code == 400


def test_rate_limit_knob() -> None:
    server = SandboxServer(Store(), rate_limit=5).start()
    try:
        codes = [raw(server.url, "/v1/products") for _ in range(12)]
        limited = [r for r in codes if r.status_code == 429]
        assert 5 <= len([r for r in codes if r.status_code == 200]) <= 7 and limited
        body = limited[0].json()["error"]
        assert body["code"] == "rate_limit" and body["type"] == "invalid_request_error"
        assert limited[0].headers["Stripe-Should-Retry"] == "true"
        with pytest.raises(stripe.RateLimitError):
            client(server.url).v1.products.list()
        # the SDK's own retries honour Stripe-Should-Retry and get through
        patient = stripe.StripeClient(KEY, base_addresses={"api": server.url},
                                      max_network_retries=5)
        assert patient.v1.products.list().data == []
        assert server.stats()["rate_limited"] >= len(limited) + 1
        # sandbox controls are never limited
        assert all(requests.get(f"{server.url}/sandbox/stats", timeout=5).status_code == 200
                   for _ in range(10))
    finally:
        server.stop()


def test_fail_rate_and_latency_knobs() -> None:
    server = SandboxServer(Store(), fail_rate=0.5, latency_ms=30, seed=1).start()
    try:
        started = time.monotonic()
        codes = [raw(server.url, "/v1/customers").status_code for _ in range(20)]
        assert time.monotonic() - started >= 20 * 0.03
        assert set(codes) == {200, 500} and 4 <= codes.count(500) <= 16
        failed = next(r for r in (raw(server.url, "/v1/customers") for _ in range(50))
                      if r.status_code == 500)
        assert failed.json()["error"]["type"] == "api_error"
        assert failed.headers["Stripe-Should-Retry"] == "true"
        with pytest.raises(stripe.APIError):
            sdk = client(server.url)
            for _ in range(30):
                sdk.v1.customers.list()
        # a retried POST runs once: failures come before any change, and idempotency keys hold
        retrying = stripe.StripeClient(KEY, base_addresses={"api": server.url},
                                       max_network_retries=10)
        made = [retrying.v1.customers.create(params={"email": f"{i}@x.io"}) for i in range(4)]
        assert len(server.store.customers) == 4 == len({c.id for c in made})
    finally:
        server.stop()


def test_idempotency_key_replays_the_first_answer(sdk: stripe.StripeClient,
                                                  sandbox: SandboxServer) -> None:
    opts = {"idempotency_key": "same-key-1"}
    first = sdk.v1.customers.create(params={"email": "i@x.io"}, options=opts)  # type: ignore[arg-type]
    again = sdk.v1.customers.create(params={"email": "i@x.io"}, options=opts)  # type: ignore[arg-type]
    assert first.id == again.id and len(sandbox.store.customers) == 1


def test_concurrent_clients_and_request_counts(sandbox: SandboxServer) -> None:
    sdk = client(sandbox.url)
    _, prices = catalog(sdk)
    for _ in range(3):
        paid_session(sdk, sandbox.url, prices)
    sandbox.reset_counts()
    errors: list[BaseException] = []

    def work() -> None:
        own = client(sandbox.url)
        try:
            for _ in range(25):
                assert len(own.v1.checkout.sessions.list(
                    params={"expand": ["data.line_items"]}).data) == 3
        except BaseException as exc:  # noqa: BLE001 - collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sandbox.request_count == {"GET /v1/checkout/sessions": 300}
    stats = requests.get(f"{sandbox.url}/sandbox/stats", timeout=5).json()
    assert stats["requests"]["GET /v1/checkout/sessions"] == 300
    assert stats["objects"]["checkout.session"] == 3


class _Sender:
    def status(self) -> dict[str, int]:
        return {"pending": 2, "delivered": 5, "failed": 1}


def test_webhook_status_endpoint(sandbox: SandboxServer) -> None:
    url = f"{sandbox.url}/sandbox/webhooks"
    assert requests.get(url, timeout=5).json() == {"configured": False, "pending": 0}
    sandbox.webhooks = _Sender()
    assert requests.get(url, timeout=5).json() == {
        "configured": True, "pending": 2, "delivered": 5, "failed": 1}


# -- the command --------------------------------------------------------------------------------


def _indexer(*args: str) -> list[str]:
    """The installed ``indexer`` console script of this venv."""
    return [os.path.join(os.path.dirname(sys.executable), "indexer"), *args]


def test_cli_serves_and_stops() -> None:
    proc = subprocess.Popen(_indexer("sandbox", "--port", "0", "--rate-limit", "100"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line and "no seed data" in line
        url = line.split("listening on ")[1].split()[0]
        assert client(url).v1.products.list().data == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_usage_errors() -> None:
    done = subprocess.run(_indexer("sandbox", "--webhook-url", "http://127.0.0.1:1/x"),
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "--webhook-secret" in done.stderr
    assert "Traceback" not in done.stderr
    done = subprocess.run(_indexer("sandbox", "--fail-rate", "2"),
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "--fail-rate" in done.stderr


def test_a_session_may_name_its_currency_but_not_contradict_its_prices(sandbox: Any) -> None:
    client = stripe.StripeClient("sk_test_currency", base_addresses={"api": sandbox.url})
    product = client.v1.products.create(params={"name": "Mug"})
    price = client.v1.prices.create(params={"product": product.id, "currency": "usd", "unit_amount": 900})
    line = [{"price": price.id, "quantity": 1}]
    session = client.v1.checkout.sessions.create(params={
        "mode": "payment", "currency": "USD", "line_items": line, "success_url": "https://example.com/ok"})
    assert session.currency == "usd"
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.checkout.sessions.create(params={
            "mode": "payment", "currency": "eur", "line_items": line, "success_url": "https://example.com/ok"})
    assert err.value.param == "currency"
