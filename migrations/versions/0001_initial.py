"""The index: event store, purchases, refunds, disputes, products, backfill checkpoints.

View ``product_customers`` (``sql/0001_initial/upgrade.sql``): each product's customers, summed
from ``purchases`` when read.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations import sqlfiles

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

def upgrade() -> None:
    op.create_table(
        "backfill_progress",
        sa.Column("account", sa.String(length=255), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("shard_start", sa.BigInteger(), nullable=False),
        sa.Column("shard_end", sa.BigInteger(), nullable=False),
        sa.Column("cursor", sa.String(length=255), nullable=True),
        sa.Column("objects", sa.BigInteger(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "account",
            "livemode",
            "stream",
            "shard_start",
            "shard_end",
            name=op.f("pk_backfill_progress"),
        ),
    )
    op.create_table(
        "disputes",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("account", sa.String(length=255), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("charge", sa.String(length=255), nullable=True),
        sa.Column("payment_intent", sa.String(length=255), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
    )
    op.create_index(
        op.f("ix_disputes_account_payment_intent"),
        "disputes",
        ["account", "payment_intent"],
        unique=False,
    )
    op.create_table(
        "products",
        sa.Column("account", sa.String(length=255), nullable=False),
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account", "id", name=op.f("pk_products")),
    )
    op.create_table(
        "purchases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account", sa.String(length=255), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("source_type", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column("line_item_id", sa.String(length=255), nullable=False),
        sa.Column("payment_key", sa.String(length=255), nullable=False),
        sa.Column("product_id", sa.String(length=255), nullable=True),
        sa.Column("price_id", sa.String(length=255), nullable=True),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("customer_key", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=512), nullable=True),
        sa.Column("name", sa.String(length=512), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("amount_subtotal", sa.BigInteger(), nullable=False),
        sa.Column("amount_total", sa.BigInteger(), nullable=False),
        sa.Column("amount_refunded", sa.BigInteger(), nullable=False),
        sa.Column("refunded", sa.Boolean(), nullable=False),
        sa.Column("disputed", sa.Boolean(), nullable=False),
        sa.Column("purchased_at", sa.BigInteger(), nullable=False),
        sa.Column("payment_intent", sa.String(length=255), nullable=True),
        sa.Column("invoice", sa.String(length=255), nullable=True),
        sa.Column("subscription", sa.String(length=255), nullable=True),
        sa.Column("payment_link", sa.String(length=255), nullable=True),
        sa.Column("checkout_session", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchases")),
        sa.UniqueConstraint(
            "account",
            "source_id",
            "line_item_id",
            name=op.f("uq_purchases_account_source_id_line_item_id"),
        ),
    )
    op.create_index(
        op.f("ix_purchases_account_invoice"), "purchases", ["account", "invoice"], unique=False
    )
    op.create_index(
        op.f("ix_purchases_account_payment_intent"),
        "purchases",
        ["account", "payment_intent"],
        unique=False,
    )
    op.create_index(
        op.f("ix_purchases_account_payment_key"),
        "purchases",
        ["account", "payment_key"],
        unique=False,
    )
    op.create_index(
        op.f("ix_purchases_customer_key_account_livemode"),
        "purchases",
        ["customer_key", "account", "livemode"],
        unique=False,
    )
    op.create_index(
        op.f("ix_purchases_product_id_account_livemode_customer_key"),
        "purchases",
        ["product_id", "account", "livemode", "customer_key"],
        unique=False,
    )
    op.create_index(op.f("ix_purchases_purchased_at"), "purchases", ["purchased_at"], unique=False)
    op.create_table(
        "refunds",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("account", sa.String(length=255), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("charge", sa.String(length=255), nullable=True),
        sa.Column("payment_intent", sa.String(length=255), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
    )
    op.create_index(
        op.f("ix_refunds_account_charge"), "refunds", ["account", "charge"], unique=False
    )
    op.create_index(
        op.f("ix_refunds_account_payment_intent"),
        "refunds",
        ["account", "payment_intent"],
        unique=False,
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("api_version", sa.String(length=64), nullable=True),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("account", sa.String(length=255), nullable=False),
        sa.Column("object_id", sa.String(length=255), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("available_at", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("processed_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
    )
    op.create_index(
        op.f("ix_stripe_events_account_livemode_created"),
        "stripe_events",
        ["account", "livemode", "created"],
        unique=False,
    )
    op.create_index(
        op.f("ix_stripe_events_status_available_at"),
        "stripe_events",
        ["status", "available_at"],
        unique=False,
    )
    sqlfiles.run(__file__, "upgrade.sql")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS product_customers")
    op.drop_index(op.f("ix_stripe_events_status_available_at"), table_name="stripe_events")
    op.drop_index(op.f("ix_stripe_events_account_livemode_created"), table_name="stripe_events")
    op.drop_table("stripe_events")
    op.drop_index(op.f("ix_refunds_account_payment_intent"), table_name="refunds")
    op.drop_index(op.f("ix_refunds_account_charge"), table_name="refunds")
    op.drop_table("refunds")
    op.drop_index(op.f("ix_purchases_purchased_at"), table_name="purchases")
    op.drop_index(
        op.f("ix_purchases_product_id_account_livemode_customer_key"), table_name="purchases"
    )
    op.drop_index(op.f("ix_purchases_customer_key_account_livemode"), table_name="purchases")
    op.drop_index(op.f("ix_purchases_account_payment_key"), table_name="purchases")
    op.drop_index(op.f("ix_purchases_account_payment_intent"), table_name="purchases")
    op.drop_index(op.f("ix_purchases_account_invoice"), table_name="purchases")
    op.drop_table("purchases")
    op.drop_table("products")
    op.drop_index(op.f("ix_disputes_account_payment_intent"), table_name="disputes")
    op.drop_table("disputes")
    op.drop_table("backfill_progress")
