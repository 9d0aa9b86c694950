"""The index's tables (SQLAlchemy 2.0). Migrations in ``migrations/`` create exactly these.

``account`` is ``""`` for the platform and ``acct_...`` for a Connect account, so that
test-mode, live-mode and every connected account live side by side and never mix.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}

Id = String(255)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class StripeEvent(Base):
    """The durable event store, and the work queue the workers claim from."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    type: Mapped[str] = mapped_column(String(128))
    api_version: Mapped[str | None] = mapped_column(String(64))
    created: Mapped[int] = mapped_column(BigInteger)
    livemode: Mapped[bool] = mapped_column(Boolean)
    account: Mapped[str] = mapped_column(Id, default="")
    object_id: Mapped[str | None] = mapped_column(Id)
    payload: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="webhook")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    available_at: Mapped[int] = mapped_column(BigInteger, default=0)
    received_at: Mapped[int] = mapped_column(BigInteger)
    processed_at: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index(None, "status", "available_at"),
        Index(None, "account", "livemode", "created"),
        Index("ix_stripe_events_pending_claim_order", "created", "id", "available_at",
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
        Index("ix_stripe_events_pending_received_at", "received_at",
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
    )


class Purchase(Base):
    """One row per (source object, line item): what a buyer paid for, and when."""

    __tablename__ = "purchases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(Id, default="")
    livemode: Mapped[bool] = mapped_column(Boolean)
    source_type: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(Id)
    line_item_id: Mapped[str] = mapped_column(Id)
    payment_key: Mapped[str] = mapped_column(Id)
    product_id: Mapped[str | None] = mapped_column(Id)
    price_id: Mapped[str | None] = mapped_column(Id)
    customer_id: Mapped[str | None] = mapped_column(Id)
    customer_key: Mapped[str] = mapped_column(Id)
    email: Mapped[str | None] = mapped_column(String(512))
    name: Mapped[str | None] = mapped_column(String(512))
    description: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(8))
    amount_subtotal: Mapped[int] = mapped_column(BigInteger)
    amount_total: Mapped[int] = mapped_column(BigInteger)
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded: Mapped[bool] = mapped_column(Boolean, default=False)
    disputed: Mapped[bool] = mapped_column(Boolean, default=False)
    purchased_at: Mapped[int] = mapped_column(BigInteger)
    payment_intent: Mapped[str | None] = mapped_column(Id)
    invoice: Mapped[str | None] = mapped_column(Id)
    subscription: Mapped[str | None] = mapped_column(Id)
    payment_link: Mapped[str | None] = mapped_column(Id)
    checkout_session: Mapped[str | None] = mapped_column(Id)
    updated_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("account", "source_id", "line_item_id"),
        Index(None, "product_id", "account", "livemode", "customer_key"),
        Index(None, "customer_key", "account", "livemode"),
        Index(None, "account", "payment_intent"),
        Index(None, "account", "invoice"),
        Index(None, "account", "payment_key"),
        Index(None, "purchased_at"),
    )


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    account: Mapped[str] = mapped_column(Id, default="")
    livemode: Mapped[bool] = mapped_column(Boolean)
    charge: Mapped[str | None] = mapped_column(Id)
    payment_intent: Mapped[str | None] = mapped_column(Id)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(32))
    created: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index(None, "account", "payment_intent"), Index(None, "account", "charge"))


class Dispute(Base):
    __tablename__ = "disputes"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    account: Mapped[str] = mapped_column(Id, default="")
    livemode: Mapped[bool] = mapped_column(Boolean)
    charge: Mapped[str | None] = mapped_column(Id)
    payment_intent: Mapped[str | None] = mapped_column(Id)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(64))
    created: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index(None, "account", "payment_intent"),)


class Product(Base):
    __tablename__ = "products"

    account: Mapped[str] = mapped_column(Id, primary_key=True, default="")
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    livemode: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(512))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated: Mapped[int] = mapped_column(BigInteger)


class BackfillProgress(Base):
    """Checkpoints of a backfill: one row per stream and shard of the ``created`` range."""

    __tablename__ = "backfill_progress"

    account: Mapped[str] = mapped_column(Id, primary_key=True, default="")
    livemode: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    shard_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    shard_end: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Id)
    objects: Mapped[int] = mapped_column(BigInteger, default=0)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class _Sums:
    """What every rollup row adds up (the columns are copied into each table)."""

    purchases: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(BigInteger)
    amount_total: Mapped[int] = mapped_column(BigInteger)
    amount_refunded: Mapped[int] = mapped_column(BigInteger)


class ProductTotal(_Sums, Base):
    """One row per product and currency (view ``product_summary``): ``purchases`` aggregated,
    fully refunded ones left out. Kept by triggers on ``purchases`` (migration
    ``0014_lean_rollups``; on PostgreSQL settled as each writing transaction commits, with the
    unlogged helper tables ``rollup_dirty`` and ``rollup_pending``, or, for a backfill's pages,
    computed again once it ends from the products noted in ``rollup_stale``: migration
    ``0015_deferred_rollups``, ``indexer.index.rollups``)."""

    __tablename__ = "product_totals"

    product_id: Mapped[str] = mapped_column(Id, primary_key=True)
    account: Mapped[str] = mapped_column(Id, primary_key=True)
    livemode: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    currency: Mapped[str] = mapped_column(String(8), primary_key=True)
    customers: Mapped[int] = mapped_column(BigInteger)
    first_purchased_at: Mapped[int | None] = mapped_column(BigInteger)
    last_purchased_at: Mapped[int | None] = mapped_column(BigInteger)


class ProductCustomerCount(Base):
    """One row per product (account and mode): its distinct customers across currencies, each
    buyer counted once however many currencies they paid in, fully refunded purchases left out
    as in ``product_totals``. Kept with it (migrations ``0011_product_customer_counts`` and
    ``0014_lean_rollups``), so a product's customers are one row to read rather than a count
    over all its buyers."""

    __tablename__ = "product_customer_counts"

    product_id: Mapped[str] = mapped_column(Id, primary_key=True)
    account: Mapped[str] = mapped_column(Id, primary_key=True)
    livemode: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    customers: Mapped[int] = mapped_column(BigInteger)


class ProductDailyTotal(_Sums, Base):
    """One row per product, UTC day and currency (view ``product_sales_daily``), kept like the
    above. ``day`` is ``YYYY-MM-DD``, ``day_start`` its first second."""

    __tablename__ = "product_daily_totals"

    product_id: Mapped[str] = mapped_column(Id, primary_key=True)
    account: Mapped[str] = mapped_column(Id, primary_key=True)
    livemode: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    currency: Mapped[str] = mapped_column(String(8), primary_key=True)
    day_start: Mapped[int] = mapped_column(BigInteger)
    customers: Mapped[int] = mapped_column(BigInteger)


class MetricCounter(Base):
    """Totals that every process adds to and ``/metrics`` reads (``indexer.ingest.counters``):
    webhook deliveries, events applied, worker batches, Stripe requests. ``label`` is the value
    of the metric's one label (``''`` when it has none)."""

    __tablename__ = "metric_counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    value: Mapped[float] = mapped_column(Float, default=0)


class ReportRun(Base):
    """A Report Run the indexer started (migration ``0006_reports``); ``request_key`` names its
    parameters, so that the same request resumes the same run."""

    __tablename__ = "report_runs"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    account: Mapped[str] = mapped_column(Id)
    livemode: Mapped[bool] = mapped_column(Boolean)
    report_type: Mapped[str] = mapped_column(String(128))
    month: Mapped[str | None] = mapped_column(String(7))
    interval_start: Mapped[int] = mapped_column(BigInteger)
    interval_end: Mapped[int] = mapped_column(BigInteger)
    timezone: Mapped[str] = mapped_column(String(64))
    columns: Mapped[str] = mapped_column(Text)
    request_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    result_file: Mapped[str | None] = mapped_column(Id)
    result_url: Mapped[str | None] = mapped_column(Text)
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    kept_at: Mapped[int | None] = mapped_column(BigInteger)
    created: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index(None, "request_key"), Index(None, "account", "livemode", "month"))


class ReportFileChunk(Base):
    """A kept report file, in pieces of at most a mebibyte, in order of ``seq``."""

    __tablename__ = "report_file_chunks"

    run_id: Mapped[str] = mapped_column(Id, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class BalanceTransaction(Base):
    """What Stripe said of a balance transaction met while enriching a report."""

    __tablename__ = "balance_transactions"

    account: Mapped[str] = mapped_column(Id, primary_key=True)
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    livemode: Mapped[bool] = mapped_column(Boolean)
    created: Mapped[int] = mapped_column(BigInteger)
    reporting_category: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str | None] = mapped_column(Id)
    charge: Mapped[str | None] = mapped_column(Id)
    payment_intent: Mapped[str | None] = mapped_column(Id)

    __table_args__ = (Index(None, "account", "charge"),)


#: Core ``Table`` objects, for SQL written with SQLAlchemy Core.
events_t = StripeEvent.__table__
purchases_t = Purchase.__table__
refunds_t = Refund.__table__
disputes_t = Dispute.__table__
products_t = Product.__table__
progress_t = BackfillProgress.__table__
product_totals_t = ProductTotal.__table__
customer_counts_t = ProductCustomerCount.__table__
counters_t = MetricCounter.__table__
report_runs_t = ReportRun.__table__
report_chunks_t = ReportFileChunk.__table__
balance_transactions_t = BalanceTransaction.__table__
