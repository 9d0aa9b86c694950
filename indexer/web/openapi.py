"""The OpenAPI 3.1 document of the query API, served at ``/openapi.json``.

Written to describe exactly what ``indexer.web.api`` accepts and answers: the fuzz test
(``tests/web/test_openapi_fuzz.py``) sends what this document allows and checks every answer
against it, so a parameter's bounds here are the parser's bounds there.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

MAX_INT = 10**18 - 1  # the parser takes up to 18 digits

Schema = dict[str, Any]


def _nullable(kind: str, **extra: Any) -> Schema:
    return {"type": [kind, "null"], **extra}


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


# What the parser takes as an id or a cursor: 1 to 512 characters, no control characters.
IDENTIFIER: Schema = {"type": "string", "minLength": 1, "maxLength": 512, "pattern": "^[^\\u0000-\\u001f\\u007f]*$"}

# Examples in the document; the fuzz test indexes purchases under exactly these ids.
EXAMPLE_PRODUCT = "prod_QfHkVideoCourse"
EXAMPLE_CUSTOMER = "cus_QfHkAnnLee01"
EXAMPLE_EMAIL = "Jenny.Rosen@example.com"


def _path(name: str, description: str, examples: list[str]) -> Schema:
    return {
        "name": name, "in": "path", "required": True, "description": description,
        "schema": {**IDENTIFIER, "examples": examples},
    }


def _cursor(name: str, what: str, schema: Schema) -> Schema:
    direction = "after" if name == "starting_after" else "before"
    return _query(
        name,
        schema,
        f"A cursor: the `id` of an entry; the page starts right {direction} it. "
        f"{what} Only one of `starting_after` and `ending_before` may be given.",
    )


# A time: Unix seconds as Stripe takes them, or a UTC day (the whole day: its first second for
# `gte` and `lt`, its last for `lte` and `gt`).
TIME: Schema = {"anyOf": [
    {"type": "integer", "minimum": -MAX_INT, "maximum": MAX_INT},
    {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
]}


def _list_parameters(cursor: Schema | None, cursor_note: str) -> list[Schema]:
    """A list's query parameters; with no ``cursor`` (a CSV, which holds every page) no paging ones."""
    paging = [] if cursor is None else [
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
               "How many entries to return, 1 to 100."),
        _cursor("starting_after", cursor_note, cursor),
        _cursor("ending_before", cursor_note, cursor),
    ]
    return [
        *paging,
        _query("created", TIME, "Only purchases made at this Unix time (seconds), or on this UTC day (`YYYY-MM-DD`)."),
        *(
            _query(f"created[{op}]", TIME, f"Only purchases made {word} this Unix time (seconds), or {day} "
                   "this UTC day (`YYYY-MM-DD`).")
            for op, word, day in (("gte", "at or after", "on or after"), ("gt", "after", "after"),
                                  ("lte", "at or before", "on or before"), ("lt", "before", "before"))
        ),
        _query("include_refunded", {"type": "boolean", "default": False},
               "Include fully refunded purchases (left out by default; partly refunded ones always count)."),
        _query("livemode", {"type": "boolean"},
               "Live (`true`) or test (`false`) data; modes never mix. Default: live if the index "
               "holds any live purchase of this product (customer, or account for `/v1/products`), else test."),
        _query("account", {"type": "string", "pattern": "^(acct_[A-Za-z0-9]{1,100})?$", "default": ""},
               "A Connect account (`acct_...`); empty or absent: the platform. Accounts never mix."),
    ]


AMOUNT: Schema = {
    "type": "object",
    "description": "What a buyer paid in one currency (one row of the SQL view behind the list).",
    "additionalProperties": False,
    "required": ["currency", "purchases", "quantity", "amount_total", "amount_refunded",
                 "first_purchased_at", "last_purchased_at"],
    "properties": {
        "currency": {"type": "string", "description": "Three-letter ISO code, lower case."},
        "purchases": {"type": "integer", "minimum": 1, "description": "Distinct payments."},
        "quantity": {"type": "integer"},
        "amount_total": {"type": "integer", "description": "In the currency's minor unit."},
        "amount_refunded": {"type": "integer"},
        "first_purchased_at": {"type": "integer"},
        "last_purchased_at": {"type": "integer"},
    },
}


def _entry(obj: str, description: str, own: dict[str, Schema]) -> Schema:
    common: dict[str, Schema] = {
        "object": {"const": obj},
        "account": {"type": "string", "description": "`\"\"` for the platform, else `acct_...`."},
        "livemode": {"type": "boolean"},
        "product_id": {"type": "string"},
        "customer": _nullable("string", description="The `cus_...` id; null for a guest checkout."),
        "email": _nullable("string"),
        "purchases": {"type": "integer", "minimum": 1, "description": "Distinct payments."},
        "quantity": {"type": "integer", "description": "Units, over every currency."},
        "amount_total": _nullable(
            "integer", description="Paid, in minor units of `currency`; null when the buyer paid in several currencies (see `amounts`)."
        ),
        "amount_refunded": _nullable("integer", description="Refunded so far (partial refunds); null as `amount_total`."),
        "currency": _nullable("string", description="null when the buyer paid in several currencies."),
        "first_purchased_at": {"type": "integer", "description": "Unix seconds, Stripe's time of payment."},
        "last_purchased_at": {"type": "integer"},
        "amounts": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Amount"},
                    "description": "One element per currency, ordered by currency."},
    }
    properties = {"id": {"type": "string"}, **common, **own}
    return {
        "type": "object",
        "description": description,
        "additionalProperties": False,
        "required": list(properties),
        "properties": properties,
    }


PRODUCT_CUSTOMER = _entry(
    "product_customer",
    "A customer who bought the product. `id` is the `cus_...` id, or for a guest checkout a key "
    "derived from the lower-cased email (`guest_...`).",
    {"name": _nullable("string")},
)

CUSTOMER_PRODUCT = _entry(
    "customer_product",
    "A product the customer bought. `id` is the product id.",
    {"product_name": _nullable("string", description="From the `products` table, when known.")},
)


PRODUCT_AMOUNT: Schema = {
    **AMOUNT,
    "description": "What a product sold in one currency.",
    "required": ["currency", "customers", *AMOUNT["required"][1:]],
    "properties": {
        "currency": AMOUNT["properties"]["currency"],
        "customers": {"type": "integer", "minimum": 1, "description": "Distinct buyers who paid in this currency."},
        **{k: v for k, v in AMOUNT["properties"].items() if k != "currency"},
    },
}

PRODUCT_SUMMARY: Schema = {
    "type": "object",
    "description": "A product that sold, with its customers and revenue. Revenue is only per currency, in "
                   "`amounts`: amounts in different currencies are never added.",
    "additionalProperties": False,
    "required": ["id", "object", "product_id", "name", "account", "livemode", "customers", "purchases", "quantity",
                 "first_purchased_at", "last_purchased_at", "amounts"],
    "properties": {
        "id": {"type": "string", "description": "The product id; cursors take it."},
        "object": {"const": "product_summary"},
        "product_id": {"type": "string"},
        "name": _nullable("string", description="From the `products` table, when known."),
        "account": {"type": "string", "description": "`\"\"` for the platform, else `acct_...`."},
        "livemode": {"type": "boolean"},
        "customers": {"type": "integer", "minimum": 1,
                      "description": "Distinct buyers, each counted once even when they paid in several currencies."},
        "purchases": {"type": "integer", "minimum": 1, "description": "Distinct payments."},
        "quantity": {"type": "integer", "description": "Units, over every currency."},
        "first_purchased_at": {"type": "integer", "description": "Unix seconds, Stripe's time of payment."},
        "last_purchased_at": {"type": "integer"},
        "amounts": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/ProductAmount"},
                    "description": "One element per currency, ordered by currency."},
    },
}


def _purchase() -> Schema:
    strings = ("account", "source_type", "source_id", "line_item_id", "payment_key", "customer_key", "currency")
    optional = ("product_id", "price_id", "customer_id", "email", "name", "description", "payment_intent",
                "invoice", "subscription", "payment_link", "checkout_session")
    integers = ("quantity", "amount_subtotal", "amount_total", "amount_refunded", "purchased_at", "updated_at")
    properties: dict[str, Schema] = {
        "id": {"type": "integer", "description": "The row's id; cursors take it."},
        "object": {"const": "purchase"},
        **{name: {"type": "string"} for name in strings},
        **{name: _nullable("string") for name in optional},
        **{name: {"type": "integer"} for name in integers},
        **{name: {"type": "boolean"} for name in ("livemode", "refunded", "disputed")},
    }
    return {
        "type": "object",
        "description": "One row of `purchases`: one line item of a paid Checkout Session or Invoice.",
        "additionalProperties": False,
        "required": list(properties),
        "properties": properties,
    }


def _list_of(ref: str) -> Schema:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["object", "url", "has_more", "data"],
        "properties": {
            "object": {"const": "list"},
            "url": {"type": "string"},
            "has_more": {"type": "boolean", "description": "Whether more entries lie beyond this page, in the direction of travel."},
            "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{ref}"}},
        },
    }


ERROR: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {"type": "string", "enum": ["invalid_request_error", "authentication_error", "api_error"]},
                "message": {"type": "string"},
                "param": {"type": "string", "description": "The parameter at fault."},
                "code": {"type": "string", "description": "e.g. `resource_missing`."},
            },
        }
    },
}


def _error(description: str) -> Schema:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _operation(summary: str, description: str, path_param: Schema | None, list_ref: str,
               cursor: Schema, cursor_note: str, missing: str | None) -> Schema:
    errors = {
        "400": _error("A parameter is unknown or malformed; `error.param` names it."),
        "401": _error("No token, a wrong token, or no tokens configured on the server."),
        **({} if missing is None else {"404": _error(missing)}),
        "503": _error("The database cannot be reached."),
    }
    return {
        "get": {
            "summary": summary,
            "description": f"{description} `Accept: text/csv` answers the CSV of the `.csv` path.",
            "operationId": summary.lower().replace(" ", "_"),
            "parameters": [*([] if path_param is None else [path_param]), *_list_parameters(cursor, cursor_note)],
            "responses": {
                "200": {
                    "description": "A page of the list.",
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{list_ref}"}}},
                },
                **errors,
            },
        }
    }


def _csv_operation(summary: str, lines: str, path_param: Schema | None, missing: str | None) -> Schema:
    """The CSV of a list: every page, streamed; one line per entry and currency."""
    errors = {
        "400": _error("A parameter is unknown or malformed, or a paging one (a CSV holds every page); "
                      "`error.param` names it."),
        "401": _error("No token, a wrong token, or no tokens configured on the server."),
        **({} if missing is None else {"404": _error(missing)}),
        "503": _error("The database cannot be reached."),
    }
    return {
        "get": {
            "summary": summary,
            "description": f"Every entry of the list (all pages, streamed) as RFC 4180 CSV with a header line: {lines} "
                           "Values as in JSON (minor units, Unix seconds, `true`/`false`); a text starting with "
                           "`=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'` so that a spreadsheet "
                           "shows it as text.",
            "operationId": summary.lower().replace(" ", "_"),
            "parameters": [*([] if path_param is None else [path_param]), *_list_parameters(None, "")],
            "responses": {
                "200": {"description": "The whole list.", "content": {"text/csv": {"schema": {"type": "string"}}}},
                **errors,
            },
        }
    }


def document() -> Schema:
    key = IDENTIFIER
    product = _path("product", "A product id (`prod_...`).", [EXAMPLE_PRODUCT])
    customer = _path("customer", "A `cus_...` id, the `id` of a customer entry (`guest_...`), or an email "
                                 "address (compared case-insensitively; matches guests and customers alike).",
                     [EXAMPLE_CUSTOMER, EXAMPLE_EMAIL])
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Stripe purchase indexer: query API",
            "version": "1",
            "description": "Which customers bought this product? Lists answer like Stripe's own list API.",
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/products": _operation(
                "List products",
                "The products that sold in an account and mode, ordered by product id: customers, purchases and "
                "quantity, and revenue per currency in `amounts`. The same figures as `indexer products`.",
                None, "ProductSummaryList", key, "Any string: it is a position in the order of product ids.", None,
            ),
            "/v1/products.csv": _csv_operation(
                "Products CSV", "one line per product and currency, the columns of `indexer products`: "
                "`product_id`, `name`, `account`, `livemode`, `currency`, `customers`, `purchases`, `quantity`, "
                "`amount_total`, `amount_refunded`.", None, None,
            ),
            "/v1/products/{product}/customers": _operation(
                "List product customers",
                "The customers who bought the product: one entry per customer, ordered by `id`; "
                "amounts per currency in `amounts`, never added across currencies.",
                product, "ProductCustomerList", key, "Any string: it is a position in the order of `id`s.",
                "No such product in the index (`code`: `resource_missing`).",
            ),
            "/v1/products/{product}/purchases": _operation(
                "List product purchases",
                "The purchase rows of the product, newest first (`purchased_at`, then `id`).",
                product, "PurchaseList", {"type": "string", "pattern": "^[0-9]{1,18}$"},
                "The purchase must exist in this product, account and mode, else 400 (`resource_missing`).",
                "No such product in the index (`code`: `resource_missing`).",
            ),
            "/v1/customers/{customer}/products": _operation(
                "List customer products",
                "The products a customer bought: one entry per product, ordered by product id.",
                customer, "CustomerProductList", key, "Any string: it is a position in the order of product ids.",
                "No purchase by this customer in the index (`code`: `resource_missing`).",
            ),
            "/v1/products/{product}/customers.csv": _csv_operation(
                "Product customers CSV", "one line per customer and currency, the columns of `indexer customers`: "
                "`id`, `customer`, `email`, `name`, `currency`, `purchases`, `quantity`, `amount_total`, "
                "`amount_refunded`, `first_purchased_at`, `last_purchased_at`.",
                product, "No such product in the index (`code`: `resource_missing`).",
            ),
            "/v1/products/{product}/purchases.csv": _csv_operation(
                "Product purchases CSV", "one line per purchase row, newest first, with the fields of a `Purchase`.",
                product, "No such product in the index (`code`: `resource_missing`).",
            ),
            "/v1/customers/{customer}/products.csv": _csv_operation(
                "Customer products CSV", "one line per product and currency, the columns of `indexer customer`: "
                "`product_id`, `product_name`, `customer`, `email`, `currency`, `purchases`, `quantity`, "
                "`amount_total`, `amount_refunded`, `first_purchased_at`, `last_purchased_at`.",
                customer, "No purchase by this customer in the index (`code`: `resource_missing`).",
            ),
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A token from `INDEXER_API_TOKENS` (HTTP Basic with the token as user also works)."}
            },
            "schemas": {
                "Amount": AMOUNT,
                "ProductAmount": PRODUCT_AMOUNT,
                "ProductSummary": PRODUCT_SUMMARY,
                "ProductSummaryList": _list_of("ProductSummary"),
                "ProductCustomer": PRODUCT_CUSTOMER,
                "CustomerProduct": CUSTOMER_PRODUCT,
                "Purchase": _purchase(),
                "ProductCustomerList": _list_of("ProductCustomer"),
                "CustomerProductList": _list_of("CustomerProduct"),
                "PurchaseList": _list_of("Purchase"),
                "Error": ERROR,
            },
        },
    }


@cache
def document_bytes() -> bytes:
    return json.dumps(document(), indent=2).encode()
