"""The dashboard's pages: products, one product's buyers (and their CSV), one customer, events,
reports. Each page reads through ``indexer.answers.queries`` / ``indexer.ingest.event_store``
in one autocommit connection (``db.read``), then renders a template."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from sqlalchemy import Connection
from werkzeug.exceptions import HTTPException, NotFound

from indexer import db
from indexer.answers import queries
from indexer.answers.export import CUSTOMER_COLUMNS, chunked, csv_lines, customer_lines, major_units
from indexer.errors import IndexerError, UsageError
from indexer.ingest import event_store
from indexer.web import engine
from indexer.web.dashboard import bp, params, reports
from indexer.web.dashboard.chart import sales_chart

log = logging.getLogger(__name__)

FAILED_PAGE = 50
EVENT_COUNT_CAP = 10_000
CSV_PAGE = 500
SCOPES_SECONDS = 30.0
PRODUCT_FILTERS = ("account", "mode", "since", "until", "include_refunded", "limit")
DEFAULT_ORDER = {"name": "asc", "product_id": "asc"}


# --- products -------------------------------------------------------------------------------


@bp.get("/")
def products() -> str:
    args = request.args
    account, chosen_mode = params.account(args), params.mode(args)
    search = params.text(args, "q")
    sort = params.text(args, "sort") or "last_purchased_at"
    order = params.text(args, "order") or DEFAULT_ORDER.get(sort, "desc")
    if order not in ("asc", "desc"):
        raise UsageError("order must be asc or desc", param="order")
    page = params.page(args)

    def read(conn: Connection) -> dict[str, Any]:
        scopes = _scopes(conn)
        livemode = chosen_mode if chosen_mode is not None else (account, True) in scopes
        listing = queries.ProductListing(account, livemode, search, sort, order == "desc")
        return {
            "scopes": list(scopes), "livemode": livemode, "result": queries.products_page(conn, listing, page),
            "currencies": scopes.get((account, livemode), []),
        }

    found = db.read(engine(), read)
    return render_template(
        "dashboard/products.html", nav="products", account=account, search=search, sort=sort, order=order,
        default_order=DEFAULT_ORDER, page=page, **found,
    )


def _scopes(conn: Connection) -> dict[tuple[str, bool], list[str]]:
    """``queries.product_scopes``, read at most every ``SCOPES_SECONDS`` by each app: it sums a
    row per product and currency, and its answer (which accounts and modes sold, in which
    currencies) changes only with an account's, a mode's or a currency's first sale."""
    cache = current_app.extensions.setdefault("indexer.dashboard.scopes", {})
    now = time.monotonic()
    if cache.get("until", 0.0) <= now:
        cache.update(until=now + SCOPES_SECONDS, scopes=queries.product_scopes(conn))
    return cache["scopes"]


# --- one product ----------------------------------------------------------------------------


@bp.get("/products/<path:product_id>")
def product(product_id: str) -> str | tuple[str, int]:
    args = request.args
    account, chosen_mode = params.account(args), params.mode(args)
    include_refunded, page = params.flag(args, "include_refunded"), params.page(args)
    product_id = _ident(product_id, "product")
    try:
        dates, date_error = params.date_range(args), ""
    except UsageError as err:
        # A range the filter cannot read (typed by hand, or its start after its end) keeps the
        # person on the product, with what they typed and why, rather than on an error page.
        dates, date_error = params.DateRange(), err.public_message

    def read(conn: Connection) -> dict[str, Any]:
        filters = queries.Filters(account, chosen_mode, dates.created(), include_refunded)
        result = queries.product_customers(conn, product_id, filters, page)
        livemode = result.livemode
        return {
            "livemode": livemode,
            "result": result,
            "overview": queries.product_overview(conn, product_id, account, livemode),
            "daily": queries.product_daily_sales(conn, product_id, account, livemode, dates.gte, dates.lt),
        }

    found = db.read(engine(), read)
    overview = found["overview"]
    chart = _chart(found["daily"], dates, overview)
    filters = params.carried(args, *PRODUCT_FILTERS)
    typed = {name: params.text(args, name) for name in ("since", "until")} if date_error else dates
    page_html = render_template(
        "dashboard/product.html", nav="products", product_id=product_id, account=account, dates=dates,
        include_refunded=include_refunded, chosen_mode=chosen_mode, filters=filters, chart=chart,
        csv_filters={k: v for k, v in filters.items() if k != "limit"}, typed=typed, date_error=date_error,
        page=page, **found,
    )
    return (page_html, 400) if date_error else page_html


def _chart(daily: list[dict[str, Any]], dates: params.DateRange, overview: dict[str, Any]) -> Any:
    """The chart's days: the date range, narrowed to the product's first sale and to today, or
    its first to its last sale when no range is given."""
    first_sale, last_sale = overview["first_purchased_at"], overview["last_purchased_at"]
    if first_sale is None:
        return None
    first = dt.date.fromisoformat(dates.since) if dates.since else _day(first_sale)
    last = dt.date.fromisoformat(dates.until) if dates.until else _day(last_sale)
    first = max(first, _day(first_sale))
    last = min(last, dt.datetime.now(dt.UTC).date())
    if first > last:
        return None
    return sales_chart(daily, first, last)


def _day(seconds: int) -> dt.date:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).date()


@bp.get("/products/<path:product_id>/customers.csv")
def product_customers_csv(product_id: str) -> Response:
    """Every customer the product page shows for these filters, all pages, streamed: the same
    bytes as ``indexer customers PRODUCT --format csv`` with the same filters."""
    args = request.args
    product_id = _ident(product_id, "product")
    dates = params.date_range(args)
    filters = queries.Filters(params.account(args), params.mode(args), dates.created(),
                              params.flag(args, "include_refunded"))
    entries = queries.iter_product_customers(engine(), product_id, filters, page_size=CSV_PAGE)
    first = list(itertools.islice(entries, 1))
    lines = (line for entry in itertools.chain(first, entries) for line in customer_lines(entry))
    name = "-".join(filter(None, (_filename(product_id), "customers", dates.since, dates.until))) + ".csv"
    body: Iterator[str] = stream_with_context(chunked(csv_lines(lines, CUSTOMER_COLUMNS)))
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _filename(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:100] or "product"


def _ident(value: str, what: str) -> str:
    if not value or len(value) > params.MAX_TEXT or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise queries.ResourceMissing(f"No such {what}.", param=what)
    return value


# --- one customer ---------------------------------------------------------------------------


@bp.get("/customers")
def customer() -> str:
    args = request.args
    query, account, chosen_mode = params.text(args, "q"), params.account(args), params.mode(args)
    include_refunded, page = params.flag(args, "include_refunded"), params.page(args)
    found: dict[str, Any] = {}
    if query:
        filters = queries.Filters(account, chosen_mode, include_refunded=include_refunded)
        try:
            result = db.read(engine(), lambda conn: queries.customer_products(conn, query, filters, page))
        except queries.ResourceMissing:
            found = {"missing": True}
        else:
            found = {"result": result, "livemode": result.livemode}
    return render_template(
        "dashboard/customer.html", nav="customers", query=query, account=account, chosen_mode=chosen_mode,
        include_refunded=include_refunded, page=page, **found,
    )


# --- events ---------------------------------------------------------------------------------


@bp.get("/events")
def events() -> str:
    after = params.text(request.args, "starting_after") or None

    def read(conn: Connection) -> dict[str, Any]:
        failed, more = event_store.failed_events_page(conn, limit=FAILED_PAGE, starting_after=after)
        return {
            "counts": event_store.count_events(conn, cap=EVENT_COUNT_CAP),
            "oldest_pending": event_store.oldest_pending_received_at(conn),
            "failed": failed, "more": more,
        }

    found = db.read(engine(), read)
    return render_template("dashboard/events.html", nav="events", now=int(time.time()), after=after,
                           cap=EVENT_COUNT_CAP, **found)


@bp.post("/events/retry")
def retry_events() -> Response:
    """Failed events back in the queue: one (``event_id``) or all of them (``all``)."""
    event_id = params.text(request.form, "event_id")
    every = params.flag(request.form, "all")
    if not event_id and not every:
        abort(400, "Say which failed event to retry.")
    with db.transaction(engine()) as conn:
        count = event_store.requeue_events(conn, None if every else [event_id])
    if every:
        flash(f"{count:,} failed event(s) queued again; a running indexer worker applies them.", "ok")
    elif count:
        flash(f"Event {event_id} is queued again; a running indexer worker applies it.", "ok")
    else:
        flash(f"Event {event_id} is not a failed event (already retried?): nothing changed.", "warn")
    return redirect(url_for("dashboard.events"), 303)


# --- reports --------------------------------------------------------------------------------


@bp.get("/reports")
def reports_page() -> str:
    return render_template("dashboard/reports.html", nav="reports", months=reports.kept_months(engine()))


REPORT_MONTH = re.compile(r"\d{4}-\d{2}")
REPORT_NAME = re.compile(r"[A-Za-z0-9_-]{1,200}\.(pdf|csv)")


@bp.get("/reports/<month>/<name>")
def report_file(month: str, name: str) -> Response:
    """One of a kept month's files, made now and streamed (``indexer.reports.month_file``)."""
    if not REPORT_MONTH.fullmatch(month) or not REPORT_NAME.fullmatch(name):
        raise NotFound("No such report file.")
    account, livemode = params.account(request.args), params.mode(request.args)
    found = reports.month_file(engine(), month, name, account=account, livemode=livemode)
    if found is None:
        raise NotFound("No such report file.")
    return Response(stream_with_context(found.pieces), mimetype=found.file.media_type, headers={
        "Content-Disposition": f'attachment; filename="{found.file.name}"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@bp.get("/<path:unknown>")
def unknown(unknown: str) -> None:
    raise NotFound("There is no such page in the dashboard.")


# --- errors and template helpers ------------------------------------------------------------


@bp.errorhandler(IndexerError)
def _indexer_error(err: IndexerError) -> tuple[str, int]:
    if err.http_status >= 500:
        log.error("%s: %s", type(err).__name__, err.message)
    return render_template("dashboard/error.html", status=err.http_status, message=err.public_message), err.http_status


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> Any:
    status = err.code or 500
    return render_template("dashboard/error.html", status=status, message=err.description or err.name), status


@bp.errorhandler(Exception)
def _unexpected(err: Exception) -> tuple[str, int]:
    log.exception("dashboard: unexpected error")
    return render_template("dashboard/error.html", status=500, message="Something went wrong on the server."), 500


@bp.app_template_global()
def here(**changes: Any) -> str:
    """This page's address with some parameters changed (``None`` or ``""`` drops one). The
    cursors are dropped unless given: a new filter or order starts from the first page."""
    args = {k: v for k, v in request.args.items() if k not in ("starting_after", "ending_before")}
    args.update(changes)
    kept = {k: v for k, v in args.items() if v not in (None, "", False)}
    return url_for(request.endpoint or "dashboard.products", **(request.view_args or {}), **kept)


@bp.app_template_filter("money")
def _money(amount: int | None, currency: str | None) -> str:
    return major_units(amount, currency)


@bp.app_template_filter("when")
def _when(seconds: int | None) -> str:
    return "" if seconds is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(seconds))


@bp.app_template_filter("day")
def _day_of(seconds: int | None) -> str:
    return "" if seconds is None else time.strftime("%Y-%m-%d", time.gmtime(seconds))


@bp.app_template_filter("iso")
def _iso(seconds: int | None) -> str:
    return "" if seconds is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


@bp.app_template_filter("age")
def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


@bp.app_template_filter("number")
def _number(n: int | None) -> str:
    return "" if n is None else f"{n:,}"
