"""Table ``metric_counters``: totals that every process adds to and ``/metrics`` reads.

Web processes (several per machine under gunicorn, on several machines) count webhook
deliveries, workers count events applied, batches and Stripe requests; each adds its increments
to these shared rows, so whichever process answers a scrape gives the totals of all. The counts
of events applied, parked as failed and stored from webhooks start from what the event store
holds (and the time of the newest webhook with it), so a counter equals its total from the
first scrape on.

Revision ID: 0006_metric_counters
Revises: 0005_day_moves
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_metric_counters"
down_revision = "0005_day_moves"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_counters",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("label", sa.String(64), nullable=False, server_default=""),
        sa.Column("value", sa.Float(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("name", "label", name="pk_metric_counters"),
    )
    op.execute(
        "INSERT INTO metric_counters (name, label, value) "
        "SELECT 'webhook_deliveries', 'stored', count(*) FROM stripe_events WHERE source = 'webhook' "
        "UNION ALL SELECT 'events_applied', '', count(*) FROM stripe_events WHERE status IN ('done', 'skipped') "
        "UNION ALL SELECT 'events_parked', '', count(*) FROM stripe_events WHERE status = 'failed' "
        "UNION ALL SELECT 'webhook_last_received_at', '', max(received_at) FROM stripe_events "
        "WHERE source = 'webhook' HAVING max(received_at) IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("metric_counters")
