"""Every read the query API, the dashboard and the CLI make, by one name: ``queries.<name>``.

The reads live in modules by concern; this module gathers their public names so that callers
(the web app, the dashboard, the CLI, bench scripts and tests) keep one import:

* ``lists``: what every list shares (``Filters``, ``Created``, ``Page``, ``PageResult``,
  ``ResourceMissing``, ``MAX_LIMIT``) and the keyset reads behind them;
* ``product_customers``: the customers who bought a product;
* ``purchases``: a product's purchase rows;
* ``customer_products``: one customer, and what they bought;
* ``products``: every product with customers and revenue per currency (``indexer products``,
  ``/v1/products``);
* ``product_summaries``: the dashboard's products page, one product's totals, sales per day.

A setting read at call time (``WINDOW_CAP``) belongs to its module: change it there.
"""

from __future__ import annotations

from indexer.answers.customer_products import (
    customer_livemode,
    customer_match,
    customer_products,
    iter_customer_products,
)
from indexer.answers.lists import (
    BOUNDS,
    MAX_LIMIT,
    Created,
    Filters,
    Page,
    PageResult,
    ResourceMissing,
    walk_pages,
)
from indexer.answers.product_customers import (
    WINDOW_CAP,
    iter_product_customers,
    product_customers,
    product_livemode,
)
from indexer.answers.product_summaries import (
    PRODUCT_SORTS,
    ProductListing,
    ProductPage,
    product_daily_sales,
    product_overview,
    product_scopes,
    products_page,
)
from indexer.answers.products import (
    account_livemode,
    iter_product_summaries,
    iter_products,
    product_summary,
    products_list,
)
from indexer.answers.purchases import (
    PURCHASE_FIELDS,
    iter_product_purchases,
    product_purchases,
    purchase_entry,
)

__all__ = [
    "BOUNDS", "MAX_LIMIT", "iter_customer_products", "iter_product_purchases", "iter_product_summaries", "account_livemode", "product_summary", "products_list", "PRODUCT_SORTS", "PURCHASE_FIELDS", "WINDOW_CAP", "Created", "Filters", "Page",
    "PageResult", "ProductListing", "ProductPage", "ResourceMissing", "customer_livemode", "customer_match",
    "customer_products", "iter_product_customers", "iter_products", "product_customers", "product_daily_sales",
    "product_livemode", "product_overview", "product_purchases", "product_scopes", "products_page",
    "purchase_entry", "walk_pages",
]
