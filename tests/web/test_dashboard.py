"""The dashboard through Flask's test client, on SQLite and PostgreSQL: sign-in and the session
cookie, CSRF, escaping of Stripe data, the CSV download against ``indexer customers``, keyset
paging both ways, the events page's retry, and the reports page."""

from __future__ import annotations

import csv
import html
import io
import logging
import os
import re
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from indexer import create_app, db
from indexer.config import Settings
from indexer.index.mapping import guest_key
from indexer.ingest import event_store
from indexer.web.dashboard import pages
from tests.conftest import T0, Shop, engine_url, many_buyers
from tests.web.conftest import API_TOKEN, SECRET_KEY, TOKEN, csrf_of, make_app, sign_in

XSS = "<script>alert(1)</script>"
DAY = 86_400
INDEXER = Path(sys.executable).with_name("indexer")


def text_of(page: str) -> str:
    """The page's text as a person reads it (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def cookie_header(response: Any) -> str:
    return next(v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith("indexer_dashboard="))


# --- access ---------------------------------------------------------------------------------


PROTECTED = [
    "/dashboard/", "/dashboard/?q=x", "/dashboard/products/prod_A", "/dashboard/products/prod_A/customers.csv",
    "/dashboard/customers?q=a@example.com", "/dashboard/events", "/dashboard/reports",
    "/dashboard/reports/2026-11/x.pdf", "/dashboard/no-such-page",
]


@pytest.mark.parametrize("path", PROTECTED)
def test_every_page_and_download_sends_a_stranger_to_sign_in(client: FlaskClient, shop: Shop, path: str) -> None:
    shop.checkout(("prod_A", 100), email="ann@example.com")
    response = client.get(path)
    assert response.status_code == 302
    location = urllib.parse.urlsplit(response.headers["Location"])
    assert location.path == "/dashboard/sign-in"
    assert urllib.parse.parse_qs(location.query)["next"] == [path.rstrip("?")]
    assert "ann@example.com" not in response.text


def test_a_stranger_cannot_post_a_retry(client: FlaskClient, engine: Engine) -> None:
    failed_event(engine, "evt_1")
    response = client.post("/dashboard/events/retry", data={"event_id": "evt_1"})
    assert response.status_code == 302
    assert event_status(engine, "evt_1") == "failed"


def test_sign_in_gives_a_locked_down_session_cookie_and_leads_back(client: FlaskClient) -> None:
    response = sign_in(client, next_path="/dashboard/events")
    assert (response.status_code, response.headers["Location"]) == (302, "/dashboard/events")
    cookie = cookie_header(response)
    for attribute in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/dashboard", "Expires="):
        assert attribute in cookie
    assert TOKEN not in cookie
    page = client.get("/dashboard/events")
    assert page.status_code == 200
    assert TOKEN not in page.text and TOKEN not in page.headers.get("Location", "")


def test_a_wrong_token_is_refused_and_opens_nothing(client: FlaskClient) -> None:
    response = sign_in(client, token=TOKEN + "x")
    assert response.status_code == 401
    assert "That token is not valid." in response.text
    assert TOKEN not in response.text
    assert client.get("/dashboard/").status_code == 302


def test_dashboard_tokens_replace_the_api_tokens_and_else_the_api_tokens_sign_in(engine: Engine) -> None:
    own = make_app(engine).test_client()
    assert sign_in(own, token=API_TOKEN).status_code == 401
    assert sign_in(own, token=TOKEN).status_code == 302
    shared = make_app(engine, dashboard_tokens=()).test_client()
    assert sign_in(shared, token=API_TOKEN).status_code == 302


def test_without_any_token_the_dashboard_says_it_is_off(engine: Engine) -> None:
    client = make_app(engine, api_tokens=(), dashboard_tokens=()).test_client()
    page = client.get("/dashboard/sign-in")
    assert "The dashboard is switched off" in text_of(page.text)
    assert 'name="token"' not in page.text
    assert client.post("/dashboard/sign-in", data={"token": "anything"}).status_code == 400
    assert client.get("/dashboard/").status_code == 302


def test_only_dashboard_paths_are_accepted_after_sign_in(client: FlaskClient) -> None:
    for target in ("https://evil.example/", "//evil.example/dashboard/", "/v1/products", "/\\evil.example",
                   "/dashboard/..//evil.example", "/dashboard/../v1/products", "/dashboard/\r\nSet-Cookie: x=1"):
        response = sign_in(client, next_path=target)
        assert response.headers["Location"] == "/dashboard/", target
        client.post("/dashboard/sign-out", data={"csrf_token": csrf_of(client.get("/dashboard/").text)})


def test_sign_out_ends_the_session(signed_in: FlaskClient) -> None:
    csrf = csrf_of(signed_in.get("/dashboard/").text)
    assert signed_in.post("/dashboard/sign-out", data={"csrf_token": csrf}).status_code == 302
    assert signed_in.get("/dashboard/").status_code == 302


def test_a_token_removed_from_the_settings_ends_its_sessions(engine: Engine) -> None:
    before = make_app(engine, dashboard_tokens=(TOKEN, "other-token-" + "o" * 30))
    client = before.test_client()
    assert sign_in(client).status_code == 302
    cookie = client.get_cookie("indexer_dashboard", path="/dashboard")
    assert cookie is not None
    for tokens, allowed in (((TOKEN,), True), (("other-token-" + "o" * 30,), False)):
        later = make_app(engine, dashboard_tokens=tokens).test_client()
        later.set_cookie("indexer_dashboard", cookie.value, path="/dashboard")
        assert (later.get("/dashboard/events").status_code == 200) is allowed


def test_sessions_need_the_same_secret_key(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    client = make_app(engine).test_client()
    sign_in(client)
    cookie = client.get_cookie("indexer_dashboard", path="/dashboard")
    assert cookie is not None
    other = make_app(engine, secret_key="z" * 48).test_client()
    other.set_cookie("indexer_dashboard", cookie.value, path="/dashboard")
    assert other.get("/dashboard/").status_code == 302
    with caplog.at_level(logging.WARNING):
        make_app(engine, secret_key=None)
    assert "INDEXER_SECRET_KEY is not set" in caplog.text


def test_pages_get_headers_that_keep_them_private(signed_in: FlaskClient) -> None:
    response = signed_in.get("/dashboard/")
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert signed_in.get("/dashboard/static/dashboard.css").status_code == 200


# --- CSRF -----------------------------------------------------------------------------------


def test_every_post_needs_the_session_csrf_token(signed_in: FlaskClient, engine: Engine) -> None:
    failed_event(engine, "evt_1")
    for data in ({"event_id": "evt_1"}, {"event_id": "evt_1", "csrf_token": "forged"}):
        response = signed_in.post("/dashboard/events/retry", data=data)
        assert response.status_code == 400
        assert "reload the page" in text_of(response.text)
    assert event_status(engine, "evt_1") == "failed"
    assert signed_in.post("/dashboard/sign-out", data={}).status_code == 400
    assert signed_in.get("/dashboard/").status_code == 200


def test_sign_in_itself_needs_the_csrf_token(client: FlaskClient) -> None:
    client.get("/dashboard/sign-in")
    response = client.post("/dashboard/sign-in", data={"token": TOKEN, "next": "/dashboard/"})
    assert response.status_code == 400
    assert client.get("/dashboard/").status_code == 302


def test_a_csrf_token_from_another_session_is_refused(app: Flask, engine: Engine) -> None:
    failed_event(engine, "evt_1")
    attacker, victim = app.test_client(), app.test_client()
    sign_in(attacker)
    sign_in(victim)
    stolen = csrf_of(attacker.get("/dashboard/events").text)
    assert victim.post("/dashboard/events/retry", data={"event_id": "evt_1", "csrf_token": stolen}).status_code == 400
    assert event_status(engine, "evt_1") == "failed"


# --- escaping -------------------------------------------------------------------------------


def test_stripe_data_is_escaped_everywhere_it_is_shown(signed_in: FlaskClient, shop: Shop) -> None:
    shop.product("prod_X", XSS + " Premiere")
    shop.checkout(("prod_X", 1000), customer="cus_x", email='"><img src=x onerror=alert(1)>@example.com', name=XSS)
    shop.checkout(("prod_X", 500), email="guest@example.com", name="<b>Guest</b>")
    paths = ["/dashboard/", "/dashboard/?q=%3Cscript", "/dashboard/products/prod_X", "/dashboard/customers?q=cus_x",
             "/dashboard/customers?q=" + urllib.parse.quote(XSS)]
    for path in paths:
        page = signed_in.get(path)
        assert page.status_code == 200, path
        assert "<script" not in page.text.lower(), path
        assert "<img" not in page.text and "<b>Guest" not in page.text, path
    product = signed_in.get("/dashboard/products/prod_X").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Premiere" in product
    assert XSS in text_of(product)


# --- products -------------------------------------------------------------------------------


def product_ids(page: str) -> list[str]:
    return [urllib.parse.unquote(m) for m in re.findall(r'href="/dashboard/products/([^"?]+)\?', page)]


def follow(client: FlaskClient, path: str, rel: str, ids: Any) -> list[list[str]]:
    """Pages from ``path`` following the ``rel`` ("next" / "prev") links, as lists of ids."""
    seen = []
    while True:
        page = client.get(path)
        assert page.status_code == 200, page.text
        seen.append(ids(page.text))
        link = re.search(rf'rel="{rel}" href="([^"]+)"', page.text)
        if link is None:
            return seen
        path = html.unescape(link.group(1))


def test_products_list_with_totals_per_currency(signed_in: FlaskClient, shop: Shop) -> None:
    shop.product("prod_A", "Premiere ticket")
    shop.checkout(("prod_A", 1500), customer="cus_1", created=T0)
    shop.checkout(("prod_A", 900), email="b@example.com", currency="eur", created=T0 + DAY)
    shop.checkout(("prod_B", 100), customer="cus_1", created=T0 + 5)
    page = signed_in.get("/dashboard/").text
    assert product_ids(page) == ["prod_A", "prod_B"]
    row = text_of(page.split('href="/dashboard/products/prod_A?')[1].split("</tr>")[0])
    assert "Premiere ticket" in row and "15.00 usd" in row and "9.00 eur" in row
    assert "2025-11-25 16:00" in row
    assert "2 products matching “prod_” in Test mode" in " ".join(text_of(signed_in.get("/dashboard/?q=prod_").text).split())


def test_a_buyer_in_two_currencies_counts_once_as_in_the_api(signed_in: FlaskClient, shop: Shop) -> None:
    shop.checkout(("prod_A", 1500), customer="cus_1", created=T0)
    shop.checkout(("prod_A", 900), customer="cus_1", currency="eur", created=T0 + DAY)
    shop.checkout(("prod_A", 700), customer="cus_2", created=T0 + 2 * DAY)
    shop.checkout(("prod_B", 100), customer="cus_1", created=T0 + 5)
    api = signed_in.get("/v1/products", headers={"Authorization": f"Bearer {API_TOKEN}"}).get_json()
    expected = {entry["product_id"]: entry["customers"] for entry in api["data"]}
    assert expected == {"prod_A": 2, "prod_B": 1}
    page = signed_in.get("/dashboard/").text
    shown = {product: int(customers) for product, customers in
             re.findall(r'href="/dashboard/products/([^"?]+)\?.*?</td>\s*<td[^>]*>.*?</td>\s*<td class="num">([\d,]+)</td>',
                        page, re.S)}
    assert shown == expected
    product_page = text_of(signed_in.get("/dashboard/products/prod_A").text)
    assert re.search(r"Customers\s+2\s", product_page), product_page


def test_products_search_by_name_or_id(signed_in: FlaskClient, shop: Shop) -> None:
    shop.product("prod_A", "Premiere Ticket")
    shop.product("prod_B", "Sticker 100%")
    for product in ("prod_A", "prod_B", "prod_C"):
        shop.checkout((product, 100))
    assert product_ids(signed_in.get("/dashboard/?q=premiere").text) == ["prod_A"]
    assert product_ids(signed_in.get("/dashboard/?q=prod_C").text) == ["prod_C"]
    assert product_ids(signed_in.get("/dashboard/?q=100%25").text) == ["prod_B"]
    assert sorted(product_ids(signed_in.get("/dashboard/?q=_").text)) == ["prod_A", "prod_B", "prod_C"]
    assert "No product matches" in signed_in.get("/dashboard/?q=nothing").text


@pytest.mark.parametrize("sort", ["name", "product_id", "customers", "purchases", "last_purchased_at", "revenue:usd"])
def test_products_sort_by_every_column_and_page_both_ways(signed_in: FlaskClient, shop: Shop, sort: str) -> None:
    for n in range(7):
        shop.product(f"prod_{n}", f"Product {'ABCDEFG'[(n * 3) % 7]}")
        for buyer in range(n % 3 + 1):
            shop.checkout((f"prod_{n}", 100 * ((n * 5) % 7 + 1)), customer=f"cus_{buyer}", created=T0 + (n * 37) % 11)
    shop.checkout(("prod_6", 100000), customer="cus_9", currency="eur")
    for order in ("asc", "desc"):
        everything = product_ids(signed_in.get(f"/dashboard/?sort={sort}&order={order}").text)
        assert sorted(everything) == [f"prod_{n}" for n in range(7)]
        forward = follow(signed_in, f"/dashboard/?sort={sort}&order={order}&limit=3", "next", product_ids)
        assert [len(p) for p in forward] == [3, 3, 1]
        assert sum(forward, []) == everything
        last = forward[-1][0]
        backward = follow(signed_in, f"/dashboard/?sort={sort}&order={order}&limit=3&ending_before={last}", "prev", product_ids)
        assert sum(reversed(backward), []) == everything[:6]
    if sort == "revenue:usd":
        assert product_ids(signed_in.get("/dashboard/?sort=revenue:eur&order=desc").text)[0] == "prod_6"


def test_products_of_each_account_and_mode_stay_apart(signed_in: FlaskClient, shop: Shop) -> None:
    shop.checkout(("prod_test", 100))
    shop.checkout(("prod_live", 100), livemode=True)
    shop.checkout(("prod_connect", 100), account="acct_1")
    assert product_ids(signed_in.get("/dashboard/").text) == ["prod_live"]
    page = signed_in.get("/dashboard/?mode=test").text
    assert product_ids(page) == ["prod_test"]
    chips = {text_of(label).strip(): html.unescape(href) for href, label in re.findall(r'class="chip[^"]*"[^>]*href="([^"]+)">([^<]+)</a>', page)}
    assert set(chips) == {"Your account · test", "Your account · live", "acct_1 · test"}
    assert product_ids(signed_in.get(chips["acct_1 · test"]).text) == ["prod_connect"]
    assert product_ids(signed_in.get(chips["Your account · live"]).text) == ["prod_live"]


def test_bad_parameters_get_a_one_line_message(signed_in: FlaskClient) -> None:
    for path, message in (("/dashboard/?sort=evil", "Cannot sort by"), ("/dashboard/?account=x", "Connect account"),
                          ("/dashboard/products/prod_A/customers.csv?since=2026-13-01", "expected a date"),
                          ("/dashboard/?limit=0", "limit must be")):
        response = signed_in.get(path)
        assert response.status_code == 400, path
        assert message in text_of(response.text), path
    assert signed_in.get("/dashboard/products/prod_nothing").status_code == 404


def test_a_bad_date_range_keeps_the_person_on_the_product_with_what_they_typed(signed_in: FlaskClient, shop: Shop) -> None:
    shop.product("prod_A", "Premiere")
    shop.checkout(("prod_A", 100), email="ann@example.com")
    for query, message in (("since=2026-02-30", "since: expected a date as YYYY-MM-DD, got '2026-02-30'"),
                           ("since=2026-02-01&until=2026-01-01", "The start of the date range is after its end.")):
        response = signed_in.get(f"/dashboard/products/prod_A?{query}")
        assert response.status_code == 400
        page = response.text
        assert "<h1>Premiere</h1>" in page and 'role="alert"' in page
        assert message in text_of(page)
        for name, value in urllib.parse.parse_qsl(query):
            assert f'name="{name}" value="{value}" aria-invalid="true"' in page
        assert "ann@example.com" not in page and "Download CSV" not in page
        every_day = html.unescape(re.findall(r'href="([^"]+)">show every day</a>', page)[0])
        assert "ann@example.com" in signed_in.get(every_day).text


# --- one product ----------------------------------------------------------------------------


def customer_ids(page: str) -> list[str]:
    return [urllib.parse.unquote(m) for m in re.findall(r'href="/dashboard/customers\?q=([^&"]+)', page)]


def test_a_product_page_lists_its_customers_with_guests_and_refunds_marked(signed_in: FlaskClient, shop: Shop) -> None:
    shop.product("prod_A", "Premiere")
    shop.checkout(("prod_A", 1500, 2), customer="cus_1", email="ann@example.com", name="Ann", created=T0)
    shop.checkout(("prod_A", 900), email="Bob@Example.com", name="Bob", created=T0 + DAY)
    refunded = shop.checkout(("prod_A", 700), email="carl@example.com", name="Carl", created=T0 + 2 * DAY)
    partial = shop.checkout(("prod_A", 1000), customer="cus_2", email="dee@example.com", name="Dee", created=T0 + 3 * DAY)
    shop.refund(refunded, 700)
    shop.refund(partial, 250)

    page = signed_in.get("/dashboard/products/prod_A").text
    assert set(customer_ids(page)) == {"cus_1", "cus_2", guest_key("bob@example.com")}
    words = " ".join(text_of(page).split())
    assert "Ann cus_1 1 2 15.00 usd 2025-11-24 2025-11-24" in words
    assert "Bob@Example.com Bob guest" in words
    assert "10.00 usd partly refunded" in words
    assert "carl@example.com" not in page

    everyone = signed_in.get("/dashboard/products/prod_A?include_refunded=1").text
    assert "carl@example.com" in everyone
    assert "7.00 usd refunded" in " ".join(text_of(everyone).split())


def test_customers_page_both_ways_with_the_api_cursors(signed_in: FlaskClient, shop: Shop) -> None:
    expected = many_buyers(shop, "prod_A", 14)
    forward = follow(signed_in, "/dashboard/products/prod_A?limit=4", "next", customer_ids)
    assert [len(p) for p in forward] == [4, 4, 4, 2]
    assert sum(forward, []) == expected
    backward = follow(signed_in, f"/dashboard/products/prod_A?limit=4&ending_before={expected[-1]}", "prev", customer_ids)
    assert [len(p) for p in backward] == [4, 4, 4, 1]
    assert sum(reversed(backward), []) == expected[:-1]
    middle = signed_in.get(f"/dashboard/products/prod_A?limit=4&starting_after={expected[5]}").text
    assert customer_ids(middle) == expected[6:10]
    assert f'ending_before={expected[6]}' in middle and f'starting_after={expected[9]}' in middle


def test_a_date_range_filters_the_customers_and_draws_the_days(signed_in: FlaskClient, shop: Shop) -> None:
    shop.checkout(("prod_A", 100), customer="cus_before", created=T0 - DAY)
    shop.checkout(("prod_A", 200), customer="cus_first", created=T0)
    shop.checkout(("prod_A", 300), customer="cus_last", created=T0 + 2 * DAY + 100)
    shop.checkout(("prod_A", 400), customer="cus_after", created=T0 + 3 * DAY)
    day = time.strftime("%Y-%m-%d", time.gmtime(T0))
    last = time.strftime("%Y-%m-%d", time.gmtime(T0 + 2 * DAY))
    page = signed_in.get(f"/dashboard/products/prod_A?since={day}&until={last}").text
    assert customer_ids(page) == ["cus_first", "cus_last"]
    bars = re.findall(r"<title>([^<]+)</title></g>", page)
    assert bars == [f"{day}: 1 purchase, 2.00 usd", f"{time.strftime('%Y-%m-%d', time.gmtime(T0 + DAY))}: 0 purchases",
                    f"{last}: 1 purchase, 3.00 usd"]
    assert f"since={day}" in page and f"until={last}" in page


# --- the CSV --------------------------------------------------------------------------------


def cli_csv(engine: Engine, *args: str) -> bytes:
    command = [str(INDEXER)] if INDEXER.exists() else [sys.executable, "-c", "import sys; from indexer.cli import main; sys.exit(main())"]
    done = subprocess.run([*command, "customers", *args, "--format", "csv"], capture_output=True, check=True,
                          env={**os.environ, "DATABASE_URL": engine_url(engine)})
    return done.stdout


def test_the_csv_is_what_indexer_customers_prints_for_the_same_filters(
    signed_in: FlaskClient, shop: Shop, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "CSV_PAGE", 4)  # several pages, streamed one after another
    many_buyers(shop, "prod_A", 11)
    shop.checkout(("prod_A", 900), customer="cus_multi", email="m@example.com", name='Multi, "Currency"', currency="eur",
                  created=T0 + 3 * DAY)
    shop.checkout(("prod_A", 100), customer="cus_multi", email="m@example.com", name='Multi, "Currency"', created=T0 + 4 * DAY)
    gone = shop.checkout(("prod_A", 700), email="gone@example.com", name=XSS, created=T0 + DAY)
    shop.refund(gone, 700)
    shop.checkout(("prod_A", 5000), customer="cus_live", livemode=True, created=T0)
    day = time.strftime("%Y-%m-%d", time.gmtime(T0 + DAY))
    cases = [
        ("mode=test", ["--testmode"]),
        ("", []),
        (f"mode=test&since={day}", ["--testmode", "--since", day]),
        (f"mode=test&until={day}&include_refunded=1", ["--testmode", "--until", day, "--include-refunded"]),
        ("mode=test&include_refunded=1", ["--testmode", "--include-refunded"]),
    ]
    for query, args in cases:
        response = signed_in.get(f"/dashboard/products/prod_A/customers.csv?{query}")
        assert response.status_code == 200
        assert response.is_streamed
        assert response.mimetype == "text/csv"
        assert response.headers["Content-Disposition"].startswith('attachment; filename="prod_A-customers')
        expected = cli_csv(engine, "prod_A", *args)
        assert response.data == expected, query
    everything = list(csv.DictReader(io.StringIO(cli_csv(engine, "prod_A", "--testmode", "--include-refunded").decode(), newline="")))
    assert len(everything) == 11 + 2 + 1
    assert XSS in {row["name"] for row in everything}


def test_the_csv_link_carries_the_page_filters(signed_in: FlaskClient, shop: Shop) -> None:
    shop.checkout(("prod_A", 100), created=T0)
    day = time.strftime("%Y-%m-%d", time.gmtime(T0))
    page = signed_in.get(f"/dashboard/products/prod_A?mode=test&since={day}&include_refunded=1&limit=5").text
    link = html.unescape(re.search(r'href="([^"]+customers\.csv[^"]*)"', page).group(1))
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(link).query) == {
        "mode": ["test"], "since": [day], "include_refunded": ["1"]}


def test_the_csv_of_an_unknown_product_is_a_404_page(signed_in: FlaskClient) -> None:
    response = signed_in.get("/dashboard/products/prod_none/customers.csv")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


# --- one customer ---------------------------------------------------------------------------


def test_a_customer_by_email_or_id_with_what_they_bought(signed_in: FlaskClient, shop: Shop) -> None:
    shop.product("prod_A", "Premiere")
    shop.checkout(("prod_A", 1500), ("prod_B", 300), customer="cus_1", email="Ann@Example.com", name="Ann")
    shop.checkout(("prod_C", 200), email="ann@example.com", name="Ann")
    by_email = signed_in.get("/dashboard/customers?q=ANN@example.com").text
    assert product_ids(by_email) == ["prod_A", "prod_B", "prod_C"]
    assert "Premiere" in by_email
    assert product_ids(signed_in.get("/dashboard/customers?q=cus_1").text) == ["prod_A", "prod_B"]
    missing = signed_in.get("/dashboard/customers?q=nobody@example.com")
    assert missing.status_code == 200 and "No purchase by" in text_of(missing.text)


# --- events ---------------------------------------------------------------------------------


def failed_event(engine: Engine, event_id: str, created: int = T0, error: str = "StripeError: boom") -> None:
    row = event_store.event_row(
        {"id": event_id, "type": "checkout.session.completed", "created": created, "livemode": False,
         "data": {"object": {"id": "cs_1"}}}, "{}", source="webhook")
    with db.transaction(engine) as conn:
        event_store.insert_event(conn, row)
        event_store.finish_event(conn, event_id, "failed", error)


def event_status(engine: Engine, event_id: str) -> str:
    with db.transaction(engine) as conn:
        return next(e["status"] for e in event_store.list_events(conn, limit=1000) if e["id"] == event_id)


def test_events_page_counts_lists_failures_and_retries_one_then_all(
    signed_in: FlaskClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "FAILED_PAGE", 2)
    failed_event(engine, "evt_a", T0, error="StripeError: " + XSS)
    failed_event(engine, "evt_b", T0 + 1)
    failed_event(engine, "evt_c", T0 + 2)
    pending = event_store.event_row({"id": "evt_p", "type": "invoice.paid", "created": T0, "livemode": False,
                                     "data": {"object": {"id": "in_1"}}}, "{}", source="webhook")
    pending["received_at"] = int(time.time()) - 3 * 3600 - 60
    with db.transaction(engine) as conn:
        event_store.insert_event(conn, pending)

    page = signed_in.get("/dashboard/events")
    words = " ".join(text_of(page.text).split())
    assert "Waiting 1" in words and "Failed 3" in words and "oldest waiting 3 hours" in words
    assert re.findall(r'name="event_id" value="([^"]+)"', page.text) == ["evt_c", "evt_b"]
    older = signed_in.get(html.unescape(re.search(r'rel="next" href="([^"]+)"', page.text).group(1))).text
    assert re.findall(r'name="event_id" value="([^"]+)"', older) == ["evt_a"]
    assert "&lt;script&gt;" in older and "<script" not in older

    response = signed_in.post("/dashboard/events/retry", data={"event_id": "evt_b", "csrf_token": csrf_of(page.text)})
    assert (response.status_code, response.headers["Location"]) == (303, "/dashboard/events")
    after = signed_in.get("/dashboard/events").text
    assert "Event evt_b is queued again" in after
    assert event_status(engine, "evt_b") == "pending"
    again = signed_in.post("/dashboard/events/retry", data={"event_id": "evt_b", "csrf_token": csrf_of(after)})
    assert "is not a failed event" in signed_in.get(again.headers["Location"]).text

    signed_in.post("/dashboard/events/retry", data={"all": "1", "csrf_token": csrf_of(after)})
    assert {event_status(engine, e) for e in ("evt_a", "evt_c")} == {"pending"}
    assert "No failed events" in signed_in.get("/dashboard/events").text


# --- reports --------------------------------------------------------------------------------


def test_reports_page_says_when_reports_are_not_available(signed_in: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "indexer.reports", None)
    page = signed_in.get("/dashboard/reports")
    assert page.status_code == 200
    assert "Reports are not available yet" in page.text


def test_event_counts_stop_at_the_cap_and_say_so(signed_in: FlaskClient, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "EVENT_COUNT_CAP", 2)
    for n in range(3):
        failed_event(engine, f"evt_{n}", T0 + n)
    words = " ".join(text_of(signed_in.get("/dashboard/events").text).split())
    assert "Failed 2+" in words and "Waiting 0 " in words
    with db.transaction(engine) as conn:
        assert event_store.count_events(conn) == {"pending": 0, "failed": 3, "skipped": 0, "done": 0}
        assert event_store.count_events(conn, cap=2)["failed"] == 2


def test_a_customer_in_each_mode(signed_in: FlaskClient, shop: Shop) -> None:
    shop.checkout(("prod_T", 100), customer="cus_1", email="ann@example.com")
    shop.checkout(("prod_L", 100), customer="cus_1", email="ann@example.com", livemode=True)
    page = signed_in.get("/dashboard/customers?q=cus_1").text
    assert product_ids(page) == ["prod_L"]
    test_link = html.unescape(re.search(r'class="chip[^"]*" href="([^"]+)">Test data', page).group(1))
    assert product_ids(signed_in.get(test_link).text) == ["prod_T"]
    refunded = shop.checkout(("prod_R", 100), email="bob@example.com")
    shop.refund(refunded, 100)
    assert "No purchase in test mode (fully refunded" in text_of(signed_in.get("/dashboard/customers?q=bob@example.com").text)


def test_an_unreachable_database_is_a_503_page_without_its_address(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/missing/dir/index.db", dashboard_tokens=(TOKEN,),
                              secret_key=SECRET_KEY))
    client = app.test_client()
    assert sign_in(client).status_code == 302
    for path in ("/dashboard/", "/dashboard/products/prod_A", "/dashboard/events"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert response.mimetype == "text/html"
        assert "The database is unavailable; retry later." in response.text
        assert "missing" not in response.text


def test_a_short_secret_key_is_refused_with_a_log_line(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        app = make_app(engine, secret_key="short")
    assert "INDEXER_SECRET_KEY is shorter than 32 characters: ignored" in caplog.text
    assert app.config["SECRET_KEY"] != "short"
