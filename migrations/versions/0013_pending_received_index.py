"""The backlog's age in one index entry: a partial index ``(received_at) WHERE status = 'pending'``.

Every ``/metrics`` scrape and the dashboard's events page ask when the oldest event still waiting
to be applied arrived (``min(received_at)`` of the pending events): the lag an operator watches.
With no index on ``received_at`` that read every pending row, so the scrape grew with the backlog
and was slowest during an outage's catch-up, when it is watched most. This index holds the
pending events only, in arrival order: the oldest is its first entry. It stays as small as the
backlog, since events leave it when they are applied, skipped or parked.

Both databases get the index (SQLite uses a partial index when the query names
``status = 'pending'`` as written here). Building it holds writes to ``stripe_events`` while it
runs.

Revision ID: 0013_pending_received_index
Revises: 0012_pending_claim_index
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_pending_received_index"
down_revision = "0012_pending_claim_index"
branch_labels = None
depends_on = None

INDEX = "ix_stripe_events_pending_received_at"
PENDING = "status = 'pending'"


def upgrade() -> None:
    op.create_index(INDEX, "stripe_events", ["received_at"], unique=False,
                    postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))


def downgrade() -> None:
    op.drop_index(INDEX, table_name="stripe_events")
