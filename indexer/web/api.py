"""The query API (``/v1/...``): Stripe's list shape over the index, behind bearer tokens.

Parameters are checked the way Stripe checks them: an unknown or malformed one is a 400 that
names it (``error.param``). Errors are raised as ``indexer.errors`` and turned into Stripe's
error shape by the app's one error handler (``indexer.web.errors``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from indexer import db
from indexer.answers import queries
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
ACCOUNT = re.compile(r"acct_[A-Za-z0-9]{1,100}")
MAX_ID = 512
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


def list_params(args: MultiDict[str, str]) -> tuple[queries.Filters, queries.Page]:
    """Parse and check a list request's query string, Stripe's way."""
    for name in args:
        if name not in LIST_PARAMS:
            raise UsageError(f"Received unknown parameter: {name[:100]}", param=name[:100])
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
    exact = _integer(args, "created")
    created = queries.Created(
        gte=_tighter(_integer(args, "created[gte]"), exact, max),
        gt=_integer(args, "created[gt]"),
        lte=_tighter(_integer(args, "created[lte]"), exact, min),
        lt=_integer(args, "created[lt]"),
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
    """``created=T`` is ``created[gte]=T&created[lte]=T``, combined with any explicit bound."""
    if exact is None:
        return bound
    return exact if bound is None else pick(bound, exact)


# --- endpoints ------------------------------------------------------------------------------

Lister = Callable[[Any, str, queries.Filters, queries.Page], queries.PageResult]


def _list(lister: Lister, ident: str, what: str) -> Response:
    filters, page = list_params(request.args)
    if not ident or len(ident) > MAX_ID or not _printable(ident):
        raise queries.ResourceMissing(f"No such {what}: '{ident[:100]}'", param=what)
    result = db.read(engine(), lambda conn: lister(conn, ident, filters, page))
    body = {"object": "list", "url": request.path, "has_more": result.has_more, "data": result.data}
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/json")


@bp.get("/v1/products/<path:product>/customers")
def product_customers(product: str) -> Response:
    return _list(queries.product_customers, product, "product")


@bp.get("/v1/products/<path:product>/purchases")
def product_purchases(product: str) -> Response:
    return _list(queries.product_purchases, product, "product")


@bp.get("/v1/customers/<path:customer>/products")
def customer_products(customer: str) -> Response:
    return _list(queries.customer_products, customer, "customer")


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document of the query API; public, it holds no data."""
    return Response(document_bytes(), mimetype="application/json")
