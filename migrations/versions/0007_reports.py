"""Reports: report runs and their kept files, and the balance transactions the enrichment met.

* ``report_runs``: one row per Report Run the indexer started (``indexer report fetch``), with
  the parameters it asked for, so that asking again for the same month resumes waiting on the
  same run; the worker marks it when ``reporting.report_run.succeeded`` or ``.failed`` arrives.
* ``report_file_chunks``: a succeeded run's CSV, kept in the database in pieces of at most a
  mebibyte (a worker on one machine keeps it, a command on another reads it; no piece needs
  the whole file in memory).
* ``balance_transactions``: what Stripe said of a balance transaction when a report without id
  columns had to be resolved through ``GET /v1/balance_transactions``: its source and the
  charge and PaymentIntent behind it (never changes), so that the same file, or another report
  that names only a charge, resolves from the index the next time.

Revision ID: 0007_reports
Revises: 0006_metric_counters
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_reports"
down_revision = "0006_metric_counters"
branch_labels = None
depends_on = None

Id = sa.String(length=255)


def upgrade() -> None:
    op.create_table(
        "report_runs",
        sa.Column("id", Id, nullable=False),
        sa.Column("account", Id, nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("report_type", sa.String(length=128), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=True),
        sa.Column("interval_start", sa.BigInteger(), nullable=False),
        sa.Column("interval_end", sa.BigInteger(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("columns", sa.Text(), nullable=False),
        sa.Column("request_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result_file", Id, nullable=True),
        sa.Column("result_url", sa.Text(), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("kept_at", sa.BigInteger(), nullable=True),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_runs")),
    )
    op.create_index(op.f("ix_report_runs_request_key"), "report_runs", ["request_key"])
    op.create_index(op.f("ix_report_runs_account_livemode_month"), "report_runs",
                    ["account", "livemode", "month"])
    op.create_table(
        "report_file_chunks",
        sa.Column("run_id", Id, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_report_file_chunks")),
    )
    op.create_table(
        "balance_transactions",
        sa.Column("account", Id, nullable=False),
        sa.Column("id", Id, nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("reporting_category", sa.String(length=64), nullable=False),
        sa.Column("source_id", Id, nullable=True),
        sa.Column("charge", Id, nullable=True),
        sa.Column("payment_intent", Id, nullable=True),
        sa.PrimaryKeyConstraint("account", "id", name=op.f("pk_balance_transactions")),
    )
    op.create_index(op.f("ix_balance_transactions_account_charge"), "balance_transactions",
                    ["account", "charge"])


def downgrade() -> None:
    op.drop_table("balance_transactions")
    op.drop_table("report_file_chunks")
    op.drop_index(op.f("ix_report_runs_account_livemode_month"), table_name="report_runs")
    op.drop_index(op.f("ix_report_runs_request_key"), table_name="report_runs")
    op.drop_table("report_runs")
