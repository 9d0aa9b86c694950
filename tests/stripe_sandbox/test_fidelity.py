"""Fidelity: every object kind the sandbox sends, as wire JSON, against the SDK's own schema.

A history covering every object kind (both modes, a Connect account, both invoice shapes) is made
through the official SDK and the sandbox's buyer actions; then every list, every expand, every
retrieve, every event and every error body is fetched raw over HTTP and validated with
``schema.py`` (stripe-python's generated resource classes; pre-basil invoice, line and session
shapes from ``legacy_shapes.py``). Any unknown field, missing field or wrong type fails.

Two documented allowances, each checked to still be needed (a stale allowance fails too):

* ``ENDIVE_PER_METHOD``: per-payment-method sub-objects new in 2026-10-28.endive (``paypay``,
  ``sequra``). Their siblings (``card``, ``sepa_debit``, ... under ``payment_method_details`` and
  ``payment_method_options``) are optional in Stripe's spec and present only for the method
  used; the spec table in schema.py predates endive, so it cannot say the same of these two.
* ``PRE_BASIL_ONLY``: fields that objects other than invoices, lines and sessions carry (or lack)
  before 2025-03-31.basil. The validator knows legacy shapes for those three kinds only and checks
  everything else against the current SDK, so these differences are Stripe's, not drift.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import stripe

from stripe_sandbox.server import SandboxServer
from stripe_sandbox.store import Store

try:  # tests/stripe_sandbox as a package, or as a rootdir-less directory
    from . import schema
except ImportError:
    import schema  # type: ignore[no-redef]

KEY = "sk_test_fidelity01"
LIVE_KEY = "sk_live_fidelity01"
ACCOUNT = "acct_1FidelityConnect"
OLD = "2025-02-24.acacia"
CURRENT = stripe.api_version

ENDIVE_PER_METHOD = (
    "charge:PaymentMethodDetails.paypay",
    "charge:PaymentMethodDetails.sequra",
    "payment_intent:PaymentMethodOptions.paypay",
    "payment_intent:PaymentMethodOptions.sequra",
    "checkout.session:PaymentMethodOptions.sequra",
)
PRE_BASIL_ONLY = {
    "Charge.invoice unknown": "charge.invoice was removed in basil",
    "PaymentIntent.invoice unknown": "payment_intent.invoice was removed in basil",
    "Subscription.current_period_start unknown": "moved to the items in basil",
    "Subscription.current_period_end unknown": "moved to the items in basil",
    "SubscriptionItem.current_period_start missing": "moved to the items in basil",
    "SubscriptionItem.current_period_end missing": "moved to the items in basil",
    "SubscriptionItem.current_trial missing": "new after basil",
    "Subscription.billing_mode missing": "new in clover",
    "Plan.aggregate_usage unknown": "removed in basil",
    "InvoiceItem.price unknown": "replaced by pricing in basil",
    "InvoiceItem.plan unknown": "removed in basil",
    "InvoiceItem.subscription unknown": "moved to parent in basil",
    "InvoiceItem.subscription_item unknown": "moved to parent in basil",
    "InvoiceItem.unit_amount unknown": "replaced by pricing in basil",
    "InvoiceItem.unit_amount_decimal unknown": "replaced by pricing in basil",
    "InvoiceItem.parent missing": "new in basil",
    "InvoiceItem.pricing missing": "new in basil",
    "InvoiceItem.frozen_fields missing": "new after basil",
    "InvoiceItem.invoicing_rules missing": "new after basil",
    "InvoiceItem.quantity_decimal missing": "new in dahlia",
}
_PROBLEM = re.compile(
    r"^(?P<path>\S+): (?P<what>unknown|missing)[^(]*\((?:not declared on (?P<c1>[\w.]+)"
    r"|(?P<c2>[\w.]+?)\.(?P<f2>\w+) is declared)")


def _key(problem: str) -> str | None:
    m = _PROBLEM.match(problem)
    if m is None:
        return None
    field = m["f2"] or m["path"].rsplit(".", 1)[-1]
    return f"{m['c1'] or m['c2']}.{field} {m['what']}"


class Checker:
    """Fetches raw JSON and collects every schema problem, with the allowances that applied."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.problems: list[str] = []
        self.used: set[str] = set()
        self.kinds: set[tuple[str, str]] = set()

    def get(self, path: str, params: dict[str, Any] | None = None, *, version: str = CURRENT,
            key: str = KEY, account: str | None = None, status: int = 200) -> Any:
        headers = {"Authorization": f"Bearer {key}", "Stripe-Version": version}
        if account:
            headers["Stripe-Account"] = account
        resp = self.http.get(self.url + path, params=params, headers=headers, timeout=30)
        body = resp.json()
        assert resp.status_code == status, (path, params, body)
        where = f"GET {path} {params or ''} @{version}"
        if status != 200:
            self.problems += [f"{where}: {p}" for p in schema.validate_error_body(body)]
            return body
        self._collect(body, version)
        if body.get("object") == "list" and body["data"] and body["data"][0]["object"] == "event":
            # each event is checked at its own (frozen) version
            schema_problems = schema.validate_list(body, None, item_validator=lambda e, p: [])
            self._keep(schema_problems, version, where)
            for i, event in enumerate(body["data"]):
                self._keep(schema.validate_event(event, path=f"data[{i}]",
                                                 absent_ok=ENDIVE_PER_METHOD),
                           event["api_version"], where)
        else:
            self._keep(schema.validate_object(body, api_version=version,
                                              absent_ok=ENDIVE_PER_METHOD), version, where, body)
        self.used.update(self._endive_used(body))
        return body

    def _keep(self, problems: list[str], version: str, where: str, body: Any = None) -> None:
        if version < "2025-03-31" and body is not None:
            problems = self._legacy_embedded(problems, body, where)
        for p in problems:
            key_ = _key(p)
            if version < "2025-03-31" and key_ in PRE_BASIL_ONLY:
                self.used.add(key_)
                continue
            self.problems.append(f"{where}: {p}")

    def _legacy_embedded(self, problems: list[str], body: Any, where: str) -> list[str]:
        """An old-shape invoice, line or session expanded inside another object is checked
        against the current class by ``validate_object`` (it picks legacy shapes by the
        top-level ``object`` only), so check each such embedded object on its own instead."""
        kept, embedded = [], {}
        for p in problems:
            path = p.split(": ", 1)[0]
            prefix = _legacy_prefix(body, path)
            if prefix is None:
                kept.append(p)
            else:
                embedded[prefix] = _resolve(body, prefix)
        for prefix, obj in embedded.items():
            kept += schema.validate_object(obj, path=prefix, api_version=OLD,
                                           absent_ok=ENDIVE_PER_METHOD)
            self.used.add("embedded legacy")
        return kept

    def _collect(self, obj: Any, version: str) -> None:
        if isinstance(obj, dict):
            kind = obj.get("object")
            if isinstance(kind, str):
                self.kinds.add((kind, "old" if version < "2025-03-31" else "new"))
            for value in obj.values():
                self._collect(value, version)
        elif isinstance(obj, list):
            for value in obj:
                self._collect(value, version)

    @staticmethod
    def _endive_used(body: Any) -> set[str]:
        """Which per-method allowances this body needed (it lacks those keys)."""
        text = repr(body)
        used = set()
        if "'payment_method_details'" in text:
            used.update(ENDIVE_PER_METHOD[:2])
        if "'payment_method_options'" in text:
            used.update(ENDIVE_PER_METHOD[2:])
        return used

    def error(self, method: str, path: str, status: int, *, data: Any = None,
              params: Any = None, key: str | None = KEY, **headers: str) -> dict[str, Any]:
        if key:
            headers["Authorization"] = f"Bearer {key}"
        resp = self.http.request(method, self.url + path, data=data, params=params,
                                 headers=headers, timeout=30)
        assert resp.status_code == status, (method, path, resp.text)
        assert resp.headers["Request-Id"].startswith("req_")
        body = resp.json()
        self.problems += [f"{method} {path}: {p}" for p in schema.validate_error_body(body)]
        return body  # type: ignore[no-any-return]


_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
LEGACY_KINDS = ("invoice", "line_item", "checkout.session")


def _tokens(path: str) -> list[str | int]:
    return [m[1] if m[1] is not None else int(m[2]) for m in _TOKEN.finditer(path)]


def _resolve(body: Any, path: str) -> Any:
    node = body
    for tok in _tokens(path):
        node = node[tok]
    return node


def _legacy_prefix(body: Any, path: str) -> str | None:
    """The path of the outermost old-shape object strictly inside a non-legacy parent."""
    node, parts, parent_kind = body, [], body.get("object") if isinstance(body, dict) else None
    for tok in _tokens(path)[:-1]:
        try:
            node = node[tok]
        except (KeyError, IndexError, TypeError):
            return None
        parts.append(f"[{tok}]" if isinstance(tok, int) else (f".{tok}" if parts else tok))
        kind = node.get("object") if isinstance(node, dict) else None
        if kind in LEGACY_KINDS and parent_kind not in (*LEGACY_KINDS, "list", "event"):
            return "".join(parts)
        if isinstance(kind, str) and kind != "list":
            parent_kind = kind
    return None


def _complete(url: str, sess_id: str, **body: Any) -> dict[str, Any]:
    resp = requests.post(f"{url}/sandbox/checkout/sessions/{sess_id}/complete", json=body,
                         timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _history(url: str, sdk: stripe.StripeClient, tag: str) -> dict[str, Any]:
    """One of everything, through the SDK and the buyer actions."""
    prod = sdk.v1.products.create(params={"name": f"Course {tag}", "url": "https://x.io/c",
                                          "images": ["https://x.io/c.png"]})
    one = [sdk.v1.prices.create(params={"product": prod.id, "currency": "usd",
                                        "unit_amount": 1000 + i, "nickname": f"p{i}"})
           for i in range(12)]
    monthly = sdk.v1.prices.create(params={"product": prod.id, "currency": "usd",
                                           "unit_amount": 900, "recurring": {"interval": "month"}})
    cus = sdk.v1.customers.create(params={"email": f"buyer-{tag}@x.io", "name": "Buyer",
                                          "address": {"country": "US", "line1": "1 Main St"}})
    link = sdk.v1.payment_links.create(params={
        "line_items": [{"price": one[0].id, "quantity": 1}, {"price": one[1].id, "quantity": 2}],
        "invoice_creation": {"enabled": True}, "customer_creation": "always"})
    opened = requests.post(f"{url}/sandbox/payment_links/{link.id}/sessions", timeout=10).json()
    _complete(url, opened["id"], email=f"Link.{tag}@X.io", name="Via Link")

    def session(mode: str, lines: list[Any], **extra: Any) -> Any:
        return sdk.v1.checkout.sessions.create(params={
            "mode": mode, "success_url": "https://x.io/ok", "cancel_url": "https://x.io/no",
            "line_items": [{"price": p.id, "quantity": 1} for p in lines], **extra})

    big = session("payment", one, customer_email=f"Guest.{tag}@Example.com")
    _complete(url, big.id, name="Guest")
    for outcome in ("delayed_succeeded", "delayed_failed", "delayed"):
        _complete(url, session("payment", one[:1]).id, outcome=outcome, email=f"d@{tag}.io")
    session("payment", one[:2])  # stays open
    sdk.v1.checkout.sessions.expire(session("payment", one[:1]).id)
    _complete(url, session("payment", one[:1], customer=cus.id,
                           invoice_creation={"enabled": True}).id)
    sub_sess = _complete(url, session("subscription", [monthly, one[2]]).id, email=f"s@{tag}.io")
    requests.post(f"{url}/sandbox/subscriptions/{sub_sess['subscription']}/advance", timeout=10)
    free = sdk.v1.prices.create(params={"product": prod.id, "currency": "usd", "unit_amount": 0})
    _complete(url, session("payment", [free]).id, email=f"free@{tag}.io")
    # Elements: invoice items, invoice, finalize, pay; and one paid out of band
    for p in one[:11]:
        sdk.v1.invoice_items.create(params={"customer": cus.id, "pricing": {"price": p.id}})
    sdk.v1.invoice_items.create(params={"customer": cus.id, "amount": 300, "currency": "usd",
                                        "description": "Fee"})
    inv = sdk.v1.invoices.create(params={"customer": cus.id,
                                         "pending_invoice_items_behavior": "include"})
    sdk.v1.invoices.pay(sdk.v1.invoices.finalize_invoice(inv.id).id)
    oob = sdk.v1.invoices.create(params={"customer": cus.id})
    sdk.v1.invoice_items.create(params={"customer": cus.id, "invoice": oob.id,
                                        "pricing": {"price": one[3].id}})
    sdk.v1.invoices.pay(oob.id, params={"paid_out_of_band": True})
    draft = sdk.v1.invoices.create(params={"customer": cus.id, "collection_method":
                                           "send_invoice"})
    direct = sdk.v1.subscriptions.create(params={"customer": cus.id,
                                                 "items": [{"price": monthly.id}]})
    # refunds (partial, full) and disputes (open, lost)
    pi = big.id and sdk.v1.checkout.sessions.retrieve(big.id).payment_intent
    sdk.v1.refunds.create(params={"payment_intent": pi, "amount": 100})
    sdk.v1.refunds.create(params={"payment_intent": pi})
    card = _complete(url, session("payment", one[:1]).id, email=f"x@{tag}.io")
    dispute = requests.post(f"{url}/sandbox/disputes", timeout=10,
                            json={"payment_intent": card["payment_intent"]}).json()
    requests.post(f"{url}/sandbox/disputes/{dispute['id']}/close", json={"won": False},
                  timeout=10)
    sdk.v1.products.update(prod.id, params={"description": "updated", "metadata": {"k": "v"}})
    gone = sdk.v1.products.create(params={"name": "Short-lived"})
    sdk.v1.products.delete(gone.id)
    return {"prod": prod, "price": one[0], "cus": cus, "link": link, "big": big, "inv": inv,
            "draft": draft, "sub": direct.id, "pi": pi, "dispute": dispute["id"],
            "sub_sess": sub_sess}


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[str, dict[str, Any]]]:
    store = Store(api_version=OLD)
    server = SandboxServer(store).start()
    try:
        sdk = stripe.StripeClient(KEY, base_addresses={"api": server.url},
                                  max_network_retries=0)
        made = {"old": _history(server.url, sdk, "old")}  # events frozen at OLD
        store.api_version = CURRENT
        made["new"] = _history(server.url, sdk, "new")
        live = stripe.StripeClient(LIVE_KEY, base_addresses={"api": server.url},
                                   max_network_retries=0)
        made["live"] = _history(server.url, live, "live")
        acct = stripe.StripeClient(KEY, base_addresses={"api": server.url},
                                   max_network_retries=0, stripe_account=ACCOUNT)
        made["acct"] = _history(server.url, acct, "acct")
        yield server.url, made
    finally:
        server.stop()


@pytest.fixture
def check(world: tuple[str, dict[str, Any]]) -> Checker:
    return Checker(world[0])


@pytest.fixture
def made(world: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return world[1]


LISTS: dict[str, tuple[str, ...]] = {
    "/v1/products": (),
    "/v1/prices": (),
    "/v1/customers": (),
    "/v1/payment_links": (),
    "/v1/checkout/sessions": ("data.line_items", "data.line_items.data.price",
                              "data.customer", "data.payment_intent", "data.invoice",
                              "data.subscription", "data.payment_link"),
    "/v1/payment_intents": ("data.latest_charge", "data.customer"),
    "/v1/charges": ("data.refunds", "data.payment_intent"),
    "/v1/invoices": ("data.payments", "data.lines.data.price", "data.customer",
                     "data.charge", "data.payment_intent", "data.subscription"),
    "/v1/invoice_payments": ("data.invoice", "data.payment.payment_intent"),
    "/v1/subscriptions": ("data.latest_invoice", "data.items.data.price"),
    "/v1/refunds": ("data.charge", "data.payment_intent"),
    "/v1/disputes": ("data.charge", "data.payment_intent"),
    "/v1/events": (),
}
#: expansions that name fields a version does not have, or objects it cannot expand
NOT_AT = {
    OLD: {"data.payments", "data.payment.payment_intent"},
    CURRENT: {"data.charge", "data.payment_intent", "data.subscription",
              "data.lines.data.price"},
}
SCOPES = {"test": {}, "live": {"key": LIVE_KEY}, "acct": {"account": ACCOUNT}}


@pytest.mark.parametrize("version", [CURRENT, OLD])
def test_every_list_and_expand_conforms(check: Checker, made: dict[str, Any],
    version: str,
) -> None:
    for scope in SCOPES.values():
        for path, expands in LISTS.items():
            page = check.get(path, {"limit": 100}, version=version, **scope)
            assert page["data"], (path, scope)
            for exp in expands:
                if path == "/v1/invoices" and exp in NOT_AT[version]:
                    check.get(path, {"expand[]": exp}, version=version, status=400)
                    continue
                if path == "/v1/invoice_payments" and version == OLD:
                    continue  # invoice payments are a basil object
                check.get(path, {"limit": 100, "expand[]": exp}, version=version, **scope)
    assert check.problems == []


@pytest.mark.parametrize("version", [CURRENT, OLD])
def test_every_retrieve_and_child_list_conforms(check: Checker, made: dict[str, Any],
    version: str,
) -> None:
    for tag, scope in (("old", SCOPES["test"]), ("new", SCOPES["test"]),
                       ("live", SCOPES["live"]), ("acct", SCOPES["acct"])):
        m = made[tag]
        big = m["big"].id
        for path, params in (
            (f"/v1/products/{m['prod'].id}", {"expand[]": "default_price"}),
            (f"/v1/prices/{m['price'].id}", {"expand[]": "product"}),
            (f"/v1/customers/{m['cus'].id}", None),
            (f"/v1/payment_links/{m['link'].id}", {"expand[]": "line_items"}),
            (f"/v1/payment_links/{m['link'].id}/line_items", {"expand[]": "data.price.product"}),
            (f"/v1/checkout/sessions/{big}", {"expand[]": ["line_items",
                                                           "line_items.data.price.product"]}),
            (f"/v1/checkout/sessions/{big}/line_items", {"limit": 100}),
            (f"/v1/checkout/sessions/{m['sub_sess']['id']}", {"expand[]": [
                "subscription", "invoice", "customer"]}),
            (f"/v1/invoices/{m['inv'].id}", None),
            (f"/v1/invoices/{m['draft'].id}", None),
            (f"/v1/invoices/{m['inv'].id}/lines", {"limit": 100}),
            (f"/v1/subscriptions/{m['sub']}", {"expand[]": "latest_invoice"}),
            (f"/v1/payment_intents/{m['pi']}", {"expand[]": "latest_charge"}),
            (f"/v1/disputes/{m['dispute']}", {"expand[]": "charge"}),
        ):
            check.get(path, params, version=version, **scope)
    assert check.problems == []


def test_both_invoice_shapes_and_frozen_events(check: Checker, made: dict[str, Any]) -> None:
    inv = made["new"]["inv"].id
    new = check.get(f"/v1/invoices/{inv}", {"expand[]": "payments"})
    old = check.get(f"/v1/invoices/{inv}", version=OLD)
    assert "pricing" in new["lines"]["data"][0] and "payments" in new
    assert "price" in old["lines"]["data"][0] and "payment_intent" in old
    events = check.get("/v1/events", {"limit": 100, "type": "invoice.paid"})
    versions = {e["api_version"] for e in events["data"]}
    assert versions == {OLD, CURRENT}
    for e in events["data"]:
        lines = e["data"]["object"]["lines"]["data"]
        assert ("price" in lines[0]) == (e["api_version"] == OLD)
    # a request's Stripe-Version never changes an event's frozen payload
    again = check.get("/v1/events", {"limit": 100, "type": "invoice.paid"}, version=OLD)
    assert again["data"] == events["data"]
    assert check.problems == []


def test_every_event_type_conforms(check: Checker, made: dict[str, Any]) -> None:
    seen: set[tuple[str, str]] = set()
    for scope in SCOPES.values():
        cursor: dict[str, Any] = {"limit": 100}
        while True:
            page = check.get("/v1/events", cursor, **scope)
            seen.update((e["type"], e["api_version"]) for e in page["data"])
            if not page["has_more"]:
                break
            cursor = {"limit": 100, "starting_after": page["data"][-1]["id"]}
    types = {t for t, _ in seen}
    for expected in ("checkout.session.completed", "checkout.session.async_payment_succeeded",
                     "checkout.session.async_payment_failed", "checkout.session.expired",
                     "invoice.paid", "invoice.payment_succeeded", "invoice.finalized",
                     "charge.refunded", "refund.created", "charge.dispute.created",
                     "charge.dispute.closed", "product.created", "product.updated",
                     "product.deleted", "customer.subscription.created",
                     "customer.subscription.updated", "invoiceitem.created",
                     "payment_link.created", "price.created", "payment_intent.succeeded"):
        assert expected in types
    assert check.problems == []


def test_error_bodies_conform(check: Checker, made: dict[str, Any]) -> None:
    bodies = [
        check.error("GET", "/v1/products", 401, key=None),
        check.error("GET", "/v1/products", 401, key="sk_test_"),
        check.error("GET", "/v1/products/prod_missing", 404),
        check.error("GET", "/v1/nowhere", 404),
        check.error("POST", "/v1/products", 400, data={"name": "x", "colour": "red"}),
        check.error("POST", "/v1/products", 400, data={}),
        check.error("GET", "/v1/checkout/sessions", 400,
                    params={"expand[]": "data.line_items.data.price.product"}),
        check.error("GET", "/v1/products", 400,
                    params={"starting_after": made["new"]["prod"].id,
                            "ending_before": made["new"]["prod"].id}),
        check.error("GET", "/v1/events", 400, params={"type": "a", "types[]": "b"}),
        check.error("GET", "/v1/products", 400, params={"limit": "0"}),
        check.error("GET", "/v1/products", 403, **{"Stripe-Account": "nobody"}),
    ]
    assert bodies[2]["error"]["code"] == "resource_missing"
    assert bodies[2]["error"]["param"] == "id"
    assert bodies[4]["error"]["param"] == "colour"
    assert "4 levels" in bodies[6]["error"]["message"]
    limited = SandboxServer(Store(), rate_limit=1, fail_rate=0.0).start()
    failing = SandboxServer(Store(), fail_rate=0.99).start()
    try:
        for server, status, kind in ((limited, 429, "invalid_request_error"),
                                     (failing, 500, "api_error")):
            other = Checker(server.url)
            for _ in range(3):
                resp = requests.get(f"{server.url}/v1/products", timeout=10,
                                    headers={"Authorization": f"Bearer {KEY}"})
            assert resp.status_code == status
            assert resp.headers["Stripe-Should-Retry"] == "true"
            assert resp.json()["error"]["type"] == kind
            other.problems += schema.validate_error_body(resp.json())
            assert other.problems == []
    finally:
        limited.stop()
        failing.stop()
    assert check.problems == []


def test_coverage_and_allowances_still_needed(check: Checker, made: dict[str, Any]) -> None:
    """Every object kind is seen in both versions, and no allowance is stale."""
    for version in (CURRENT, OLD):
        for path in LISTS:
            params: dict[str, Any] = {"limit": 100}
            if path == "/v1/checkout/sessions":
                params["expand[]"] = "data.line_items"
            if path == "/v1/subscriptions":
                params["expand[]"] = "data.latest_invoice"
            while True:
                page = check.get(path, params, version=version)
                if not page["has_more"]:
                    break
                params = {**params, "starting_after": page["data"][-1]["id"]}
    missing = [(kind, v) for kind in (
        "product", "price", "customer", "payment_link", "checkout.session", "item",
        "payment_intent", "charge", "invoice", "line_item", "subscription", "subscription_item",
        "plan", "refund", "dispute", "event", "list", "invoiceitem", "invoice_payment")
        for v in ("new", "old") if (kind, v) not in check.kinds]
    assert missing == []
    unused = [k for k in (*ENDIVE_PER_METHOD, *PRE_BASIL_ONLY, "embedded legacy")
              if k not in check.used]
    assert unused == []
    assert check.problems == []


def test_generated_history_conforms() -> None:
    """The seed generator's history (every case it covers), page by page."""
    generator = pytest.importorskip("stripe_sandbox.generator")
    store = Store()
    generator.generate(store, 120, 7)
    server = SandboxServer(store).start()
    try:
        check = Checker(server.url)
        for path in LISTS:
            for version in (CURRENT, OLD):
                params: dict[str, Any] = {"limit": 100}
                if path == "/v1/checkout/sessions":
                    params["expand[]"] = "data.line_items"
                pages = 0
                while True:
                    page = check.get(path, params, version=version)
                    pages += 1
                    if not page["has_more"] or pages >= 5:
                        break
                    params = {**params, "starting_after": page["data"][-1]["id"]}
        assert check.problems == []
    finally:
        server.stop()


def test_checker_catches_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks above can fail: an unknown field, a missing field, a wrong type, an old field
    in a current-version invoice are each reported."""
    from stripe_sandbox.render import Renderer

    product, invoice = Renderer.product, Renderer.invoice

    def drifting_product(self: Renderer, p: Any, ver: Any) -> dict[str, Any]:
        obj = product(self, p, ver)
        del obj["name"]
        return {**obj, "bogus": 1, "active": "yes"}

    def drifting_invoice(self: Renderer, inv: Any, ver: Any) -> dict[str, Any]:
        return {**invoice(self, inv, ver), "subscription": None}

    monkeypatch.setattr(Renderer, "product", drifting_product)
    monkeypatch.setattr(Renderer, "invoice", drifting_invoice)
    server = SandboxServer(Store()).start()
    try:
        sdk = stripe.StripeClient(KEY, base_addresses={"api": server.url},
                                  max_network_retries=0)
        sdk.v1.products.create(params={"name": "x"})
        cus = sdk.v1.customers.create(params={"email": "d@x.io"})
        sdk.v1.invoices.create(params={"customer": cus.id})
        check = Checker(server.url)
        check.get("/v1/products")
        check.get("/v1/invoices")
        found = {p.split(": ")[1] + " " + p.split(": ")[2].split(" ")[0] for p in check.problems}
        assert found == {"data[0].name missing", "data[0].bogus unknown",
                         "data[0].active expected", "data[0].subscription unknown"}, found
    finally:
        server.stop()
