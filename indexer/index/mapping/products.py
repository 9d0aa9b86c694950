"""Products to rows: the catalog names that purchases are shown with."""

from __future__ import annotations

from indexer.index.mapping.fields import (
    account_of,
    int_field,
    livemode_of,
    str_field,
    stripe_object,
)
from indexer.index.mapping.rows import ProductRow


def product_row(product: dict, *, account: str = "", deleted: bool = False) -> ProductRow:
    """A Product; ``deleted`` (or the object's own ``deleted: true``) keeps it, marked deleted,
    so that past purchases keep their product name."""
    product = stripe_object(product, "product")
    deleted = deleted or product.get("deleted") is True
    return ProductRow(
        id=product["id"],
        account=account_of(account),
        livemode=livemode_of(product),
        name=str_field(product, "name") or "",
        active=product.get("active") is True and not deleted,
        updated=int_field(product, "updated", int_field(product, "created", 0)),
        deleted=deleted,
    )


