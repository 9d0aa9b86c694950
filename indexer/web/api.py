"""The query API (``/v1/...``): Stripe's list shape over the index, behind bearer tokens.

Parameters are checked the way Stripe checks them: an unknown or malformed one is a 400 that
names it (``error.param``). Errors are raised as ``indexer.errors`` and turned into Stripe's
error shape by the app's one error handler (``indexer.web.errors``).

Every list is also CSV, for a spreadsheet user with no script: its path with ``.csv``, or
``Accept: text/csv``. A CSV holds every page (so it takes no ``limit`` or cursor), streamed as
the pages are read, in the bytes ``indexer customers|customer|products --format csv`` print
(``indexer.answers.export``).
"""

from __future__ import annotations

import base64
import binascii
import calendar
import datetime as dt
import functools
import hashlib
import hmac
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Blueprint, Response, request, stream_with_context
from sqlalchemy import Connection
from werkzeug.datastructures import MultiDict

from indexer import db
from indexer.answers import export, queries
from indexer.errors import Unauthorized, UsageError
from indexer.web import engine, settings
from indexer.web.openapi import document_bytes

bp = Blueprint("api", __name__)

LIST_PARAMS = frozenset(
    {
        "limit", "starting_after", "ending_before", "include_refunded", "livemode", "account",
        "created", "created[gte]", "created[gt]", "created[lte]", "created[lt]",
    }
)
PAGING_PARAMS = frozenset({"limit", "starting_after", "ending_before"})
ACCOUNT = re.compile(r"acct_[A-Za-z0-9]{1,100}")
UNIX_SECONDS = re.compile(r"-?[0-9]{1,18}")
UTC_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DAY = 86_400
MAX_ID = 512
CSV_PAGE = 500
CSV_CHUNK = 64 * 1024
NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_TOKEN')."
)


# --- authentication -------------------------------------------------------------------------


@bp.before_request
def _authenticate() -> None:
    if request.endpoint == "api.openapi":
        return
    tokens = settings().api_tokens
    if not tokens:
        raise Unauthorized("The query API is disabled: INDEXER_API_TOKENS is not set on the server.")
    given = _presented_token(request.headers.get("Authorization", ""))
    if given is None:
        raise Unauthorized(NO_KEY)
    if not token_matches(given, tokens):
        raise Unauthorized("Invalid API token provided.")


def _presented_token(header: str) -> str | None:
    """The token of ``Bearer TOKEN``, or of ``Basic base64(TOKEN:)`` as ``curl -u TOKEN:`` sends."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if not value:
        return None
    if scheme.lower() == "bearer":
        return value
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(value, validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user or None
    return None


def token_matches(given: str, tokens: tuple[str, ...]) -> bool:
    """Constant time in the token's content and length: digests compared, every token tried."""
    digest = hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest()
    found = False
    for token in tokens:
        found |= hmac.compare_digest(digest, hashlib.sha256(token.encode("utf-8")).digest())
    return found


# --- parameters -----------------------------------------------------------------------------


def _single(args: MultiDict[str, str], name: str) -> str | None:
    values = args.getlist(name)
    if len(values) > 1:
        raise UsageError(f"Received more than one value for parameter: {name}", param=name)
    return values[0] if values else None


def _integer(args: MultiDict[str, str], name: str) -> int | None:
    value = _single(args, name)
    if value is None:
        return None
    if not re.fullmatch(r"-?[0-9]{1,18}", value):
        raise UsageError(f"Invalid integer: {value[:100]}", param=name)
    return int(value)


def _time(args: MultiDict[str, str], name: str, *, end_of_day: bool = False) -> int | None:
    """Unix seconds, as Stripe takes them, or a UTC day ``YYYY-MM-DD``: its first second, or
    with ``end_of_day`` its last, so that a day bound includes (``gte``, ``lte``) or excludes
    (``gt``, ``lt``) the whole day."""
    value = _single(args, name)
    if value is None:
        return None
    if UNIX_SECONDS.fullmatch(value):
        return int(value)
    if UTC_DAY.fullmatch(value):
        try:
            start = calendar.timegm(dt.date.fromisoformat(value).timetuple())
        except ValueError:
            pass
        else:
            return start + DAY - 1 if end_of_day else start
    raise UsageError(f"Invalid time: {value[:100]} (Unix seconds, or a UTC day YYYY-MM-DD)", param=name)


def _boolean(args: MultiDict[str, str], name: str) -> bool | None:
    value = _single(args, name)
    if value is None:
        return None
    if value not in ("true", "false"):
        raise UsageError(f"Invalid boolean: {value[:100]}", param=name)
    return value == "true"


def _identifier(value: str, param: str) -> str:
    if not value or len(value) > MAX_ID or not _printable(value):
        raise UsageError(f"Invalid {param}: {value[:100]!r}", param=param)
    return value


def _printable(value: str) -> bool:
    return not any(ord(ch) < 32 or ord(ch) == 127 or 0xD800 <= ord(ch) <= 0xDFFF for ch in value)


def list_params(args: MultiDict[str, str], *, every_page: bool = False) -> tuple[queries.Filters, queries.Page]:
    """Parse and check a list request's query string, Stripe's way. ``every_page`` (a CSV)
    refuses the paging parameters: the answer is the whole list."""
    for name in args:
        if name not in LIST_PARAMS:
            raise UsageError(f"Received unknown parameter: {name[:100]}", param=name[:100])
        if every_page and name in PAGING_PARAMS:
            raise UsageError(f"A CSV holds every page: leave out {name}", param=name)
    limit = _integer(args, "limit")
    if limit is None:
        limit = 10
    elif not 1 <= limit <= queries.MAX_LIMIT:
        raise UsageError(
            f"Invalid limit: must be between 1 and {queries.MAX_LIMIT} (got {limit})", param="limit"
        )
    after = _single(args, "starting_after")
    before = _single(args, "ending_before")
    if after is not None and before is not None:
        raise UsageError(
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="ending_before",
        )
    created = queries.Created(
        gte=_tighter(_time(args, "created[gte]"), _time(args, "created"), max),
        gt=_time(args, "created[gt]", end_of_day=True),
        lte=_tighter(_time(args, "created[lte]", end_of_day=True), _time(args, "created", end_of_day=True), min),
        lt=_time(args, "created[lt]"),
    )
    account = _single(args, "account") or ""
    if account and not ACCOUNT.fullmatch(account):
        raise UsageError(
            "Invalid account: a Connect account id (acct_...), or empty for the platform",
            param="account",
        )
    filters = queries.Filters(
        account=account,
        livemode=_boolean(args, "livemode"),
        created=created,
        include_refunded=bool(_boolean(args, "include_refunded")),
    )
    page = queries.Page(
        limit=limit,
        starting_after=None if after is None else _identifier(after, "starting_after"),
        ending_before=None if before is None else _identifier(before, "ending_before"),
    )
    return filters, page


def _tighter(bound: int | None, exact: int | None, pick: Callable[[int, int], int]) -> int | None:
    """``created=T`` is ``created[gte]=T&created[lte]=T`` (a day: its first and last second),
    combined with any explicit bound."""
    if exact is None:
        return bound
    return exact if bound is None else pick(bound, exact)


# --- endpoints ------------------------------------------------------------------------------

Lister = Callable[[Connection, str, queries.Filters, queries.Page], queries.PageResult]
PageReader = Callable[[Connection, queries.Filters, queries.Page], queries.PageResult]


def _wants_csv() -> bool:
    """``Accept: text/csv`` preferred to JSON (a browser's ``*/*`` still gets JSON)."""
    return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"


def _one_of(lister: Lister, ident: str, what: str) -> PageReader:
    """The list of one product (customer): ``ident`` checked, bound into the reader."""
    if not ident or len(ident) > MAX_ID or not _printable(ident):
        raise queries.ResourceMissing(f"No such {what}: '{ident[:100]}'", param=what)
    return functools.partial(_call, lister, ident)


def _call(lister: Lister, ident: str, conn: Connection, filters: queries.Filters, page: queries.Page) -> queries.PageResult:
    return lister(conn, ident, filters, page)


def _page(read_page: PageReader) -> Response:
    filters, page = list_params(request.args)
    result = db.read(engine(), lambda conn: read_page(conn, filters, page))
    body = {"object": "list", "url": request.path, "has_more": result.has_more, "data": result.data}
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/json")


def _csv(read_page: PageReader, columns: tuple[str, ...], lines: Callable[[dict[str, Any]], Iterable[dict[str, Any]]],
         filename: str) -> Response:
    """Every entry of the list as CSV lines, read a page at a time as the client reads. The
    first page is read before the answer starts, so an unknown product is still a 404."""
    filters, _ = list_params(request.args, every_page=True)
    entries = queries.walk_pages(engine(), read_page, filters, page_size=CSV_PAGE)
    first = list(itertools.islice(entries, 1))
    rows = (line for entry in itertools.chain(first, entries) for line in lines(entry))
    body: Iterator[str] = stream_with_context(export.chunked(export.csv_lines(rows, columns), CSV_CHUNK))
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{_filename(filename)}.csv"'
    return response


def _filename(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:120]


def _purchase_line(entry: dict[str, Any]) -> Iterable[dict[str, Any]]:
    return (entry,)


def _product_customers(product: str, as_csv: bool) -> Response:
    reader = _one_of(queries.product_customers, product, "product")
    if as_csv or _wants_csv():
        return _csv(reader, export.CUSTOMER_COLUMNS, export.customer_lines, f"{product}-customers")
    return _page(reader)


def _product_purchases(product: str, as_csv: bool) -> Response:
    reader = _one_of(queries.product_purchases, product, "product")
    if as_csv or _wants_csv():
        return _csv(reader, queries.PURCHASE_FIELDS, _purchase_line, f"{product}-purchases")
    return _page(reader)


def _customer_products(customer: str, as_csv: bool) -> Response:
    reader = _one_of(queries.customer_products, customer, "customer")
    if as_csv or _wants_csv():
        return _csv(reader, export.CUSTOMER_PRODUCT_COLUMNS, export.customer_product_lines, f"{customer}-products")
    return _page(reader)


def _products(as_csv: bool) -> Response:
    if as_csv or _wants_csv():
        return _csv(queries.products_list, export.PRODUCT_COLUMNS, export.product_lines, "products")
    return _page(queries.products_list)


@bp.get("/v1/products")
def products() -> Response:
    return _products(as_csv=False)


@bp.get("/v1/products.csv")
def products_csv() -> Response:
    return _products(as_csv=True)


@bp.get("/v1/products/<path:product>/customers")
def product_customers(product: str) -> Response:
    return _product_customers(product, as_csv=False)


@bp.get("/v1/products/<path:product>/customers.csv")
def product_customers_csv(product: str) -> Response:
    return _product_customers(product, as_csv=True)


@bp.get("/v1/products/<path:product>/purchases")
def product_purchases(product: str) -> Response:
    return _product_purchases(product, as_csv=False)


@bp.get("/v1/products/<path:product>/purchases.csv")
def product_purchases_csv(product: str) -> Response:
    return _product_purchases(product, as_csv=True)


@bp.get("/v1/customers/<path:customer>/products")
def customer_products(customer: str) -> Response:
    return _customer_products(customer, as_csv=False)


@bp.get("/v1/customers/<path:customer>/products.csv")
def customer_products_csv(customer: str) -> Response:
    return _customer_products(customer, as_csv=True)


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document of the query API; public, it holds no data."""
    return Response(document_bytes(), mimetype="application/json")
