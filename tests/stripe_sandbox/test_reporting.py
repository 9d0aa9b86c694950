"""The sandbox's balance and reporting: balance transactions that agree with the charges,
refunds and disputes it holds, report types, report runs that finish later and say so by
event, and their CSV files; every body against the SDK's own classes."""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
import requests

from stripe_sandbox import generator
from stripe_sandbox.reporting import (
    DEFAULT_DASHBOARD,
    DEFAULT_UTC,
    ITEMIZED_1,
    ITEMIZED_2,
    ITEMIZED_3,
)
from stripe_sandbox.server import SandboxServer
from stripe_sandbox.store import Store

try:
    from . import schema
    from .test_fidelity import ENDIVE_PER_METHOD
except ImportError:
    import schema  # type: ignore[no-redef]
    from test_fidelity import ENDIVE_PER_METHOD  # type: ignore[no-redef]

LIVE = "sk_live_reporting01"
TEST = "sk_test_reporting01"


@pytest.fixture(scope="module")
def server() -> Any:
    store = Store(seed=3)
    generator.generate(store, 300, 3)
    srv = SandboxServer(store, report_delay=0.05).start()
    charge = next(c for c in store.charges.values() if c.status == "succeeded" and c.live
                  and not c.disputed and not c.amount_refunded and c.account is None)
    dispute = requests.post(f"{srv.url}/sandbox/disputes", json={"charge": charge.id}, timeout=10).json()
    requests.post(f"{srv.url}/sandbox/disputes/{dispute['id']}/close", json={"won": True}, timeout=10)
    yield srv
    srv.stop()


def get(srv: Any, path: str, key: str = LIVE, **params: Any) -> Any:
    resp = requests.get(srv.url + path, params=params, headers={"Authorization": f"Bearer {key}"},
                        timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def post(srv: Any, path: str, data: dict[str, Any], key: str = LIVE, status: int = 200) -> Any:
    resp = requests.post(srv.url + path, data=data, headers={"Authorization": f"Bearer {key}"},
                         timeout=30)
    assert resp.status_code == status, resp.text
    return resp.json()


def test_balance_transactions_conform_and_agree_with_their_sources(server: Any) -> None:
    store = server.store
    page: dict[str, Any] = {"limit": 100, "expand[]": "data.source"}
    seen: list[dict[str, Any]] = []
    for key in (LIVE, TEST):
        params = dict(page)
        while True:
            body = get(server, "/v1/balance_transactions", key, **params)
            assert schema.validate_object(body, absent_ok=ENDIVE_PER_METHOD) == []
            seen += body["data"]
            if not body["has_more"]:
                break
            params["starting_after"] = body["data"][-1]["id"]
    assert len(seen) == sum(1 for bt in store.balance_transactions.values() if bt.account is None)
    kinds = {(bt["type"], bt["reporting_category"], (bt["source"] or {}).get("object")) for bt in seen}
    assert {("charge", "charge", "charge"), ("refund", "refund", "refund"),
            ("adjustment", "dispute", "dispute"), ("adjustment", "dispute_reversal", "dispute"),
            ("payment_failure_refund", "charge_failure", "refund"), ("stripe_fee", "fee", None),
            ("tax_fee", "tax", None)} <= kinds
    by_charge: dict[str, int] = defaultdict(int)
    for bt in seen:
        assert bt["net"] == bt["amount"] - bt["fee"]
        source = bt["source"]
        if bt["reporting_category"] == "charge":
            assert bt["amount"] == source["amount"] and source["balance_transaction"] == bt["id"]
            by_charge[source["id"]] += bt["amount"]
        elif bt["reporting_category"] == "refund":
            assert bt["amount"] == -source["amount"]
            by_charge[source["charge"]] += bt["amount"]
    for charge_id, booked in by_charge.items():
        charge = store.charges[charge_id]
        if charge.status == "succeeded":
            assert booked == charge.amount - charge.amount_refunded
    one = seen[0]
    assert get(server, f"/v1/balance_transactions/{one['id']}", **{"expand[]": "source"})["id"] == one["id"]
    charge_bt = next(bt for bt in seen if bt["type"] == "charge")
    found = get(server, "/v1/balance_transactions", source=charge_bt["source"]["id"])["data"]
    assert [bt["id"] for bt in found] == [charge_bt["id"]]


def test_report_types_and_a_run_of_every_itemized_version(server: Any) -> None:
    types = get(server, "/v1/reporting/report_types")
    assert schema.validate_object(types) == []
    ids = [t["id"] for t in types["data"]]
    assert ids[-1] == "balance_change_from_activity.itemized.7" and "balance.summary.1" in ids
    itemized = {t["id"]: t for t in types["data"] if "itemized" in t["id"]}
    assert itemized["balance_change_from_activity.itemized.3"]["default_columns"] == list(DEFAULT_UTC)
    assert itemized["balance_change_from_activity.itemized.6"]["default_columns"] == list(DEFAULT_DASHBOARD)
    seven = itemized["balance_change_from_activity.itemized.7"]
    end = seven["data_available_end"]
    start = end - 60 * 86400
    expected_rows = [bt for bt in server.store.oldest_first("balance_transaction", (True, None), (start, end - 1))]
    for type_id, columns in (("balance_change_from_activity.itemized.1", ITEMIZED_1),
                             ("balance_change_from_activity.itemized.2", ITEMIZED_2),
                             ("balance_change_from_activity.itemized.3", ITEMIZED_3),
                             ("balance_change_from_activity.itemized.7", None)):
        data: dict[str, Any] = {"report_type": type_id, "parameters[interval_start]": start,
                                "parameters[interval_end]": end}
        if type_id.endswith(".7"):
            data["parameters[timezone]"] = "America/Los_Angeles"
        data.update({f"parameters[columns][{i}]": c for i, c in enumerate(columns or ())})
        run = post(server, "/v1/reporting/report_runs", data)
        assert run["status"] == "pending" and run["result"] is None
        assert schema.validate_object(run) == []
        for _ in range(100):
            run = get(server, f"/v1/reporting/report_runs/{run['id']}")
            if run["status"] != "pending":
                break
            time.sleep(0.02)
        assert run["status"] == "succeeded" and schema.validate_object(run) == []
        assert get(server, f"/v1/files/{run['result']['id']}")["size"] == run["result"]["size"]
        resp = requests.get(run["result"]["url"], headers={"Authorization": f"Bearer {LIVE}"}, timeout=30)
        assert resp.headers["Content-Type"] == "text/csv"
        rows = list(csv.reader(io.StringIO(resp.text)))
        want = list(columns or DEFAULT_DASHBOARD)
        assert rows[0] == want and len(rows) - 1 == len(expected_rows)
        table = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
        assert [r["balance_transaction_id"] for r in table] == [bt.id for bt in expected_rows]
        for row, bt in zip(table, expected_rows, strict=True):
            assert Decimal(row["gross"]) - Decimal(row["fee"]) == Decimal(row["net"])
            if bt.currency == "jpy":
                assert "." not in row["gross"]
    events = {e.type for e in server.store.events.values()}
    assert "reporting.report_run.succeeded" in events
    event = next(e for e in server.store.events.values() if e.type == "reporting.report_run.succeeded")
    listed = get(server, "/v1/events", type="reporting.report_run.succeeded")["data"]
    assert listed and schema.validate_event(listed[0]) == []
    assert event.obj.status == "succeeded"


def test_runs_refuse_test_mode_bad_intervals_and_columns(server: Any) -> None:
    types = {t["id"]: t for t in get(server, "/v1/reporting/report_types")["data"]}
    seven = types["balance_change_from_activity.itemized.7"]
    good = {"report_type": seven["id"], "parameters[interval_start]": seven["data_available_end"] - 86400,
            "parameters[interval_end]": seven["data_available_end"]}
    err = post(server, "/v1/reporting/report_runs", good, key=TEST, status=400)
    assert "live-mode API key" in err["error"]["message"] and schema.validate_error_body(err) == []
    late = {**good, "parameters[interval_end]": seven["data_available_end"] + 1}
    assert "data_available_end" in post(server, "/v1/reporting/report_runs", late, status=400)["error"]["message"]
    bad = {**good, "parameters[columns][0]": "product_id"}
    assert post(server, "/v1/reporting/report_runs", bad, status=400)["error"]["param"] == "parameters[columns]"
    tz = {**good, "parameters[timezone]": "Mars/Olympus"}
    assert post(server, "/v1/reporting/report_runs", tz, status=400)["error"]["param"] == "parameters[timezone]"


def test_failed_runs_say_so_by_event() -> None:
    store = Store()
    generator.generate(store, 50, 1)
    srv = SandboxServer(store, report_delay=0.0, report_fail_rate=1.0, test_mode_reports=True).start()
    try:
        seven = get(srv, "/v1/reporting/report_types/balance_change_from_activity.itemized.7", TEST)
        run = post(srv, "/v1/reporting/report_runs", {
            "report_type": seven["id"], "parameters[interval_start]": seven["data_available_start"],
            "parameters[interval_end]": seven["data_available_end"]}, key=TEST)
        time.sleep(0.05)
        run = get(srv, f"/v1/reporting/report_runs/{run['id']}", TEST)
        assert run["status"] == "failed" and run["error"] and run["result"] is None
        assert schema.validate_object(run) == []
        assert [e.type for e in store.events.values() if e.type.startswith("reporting.")] == [
            "reporting.report_run.failed"]
    finally:
        srv.stop()
