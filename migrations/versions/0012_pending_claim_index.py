"""The pending events in claim order: a partial index ``(created, id, available_at) WHERE status = 'pending'``.

A worker claims the oldest due pending events, ``ORDER BY created, id LIMIT n``. The only index
it could use was ``(status, available_at)``, which hands back every due pending event in
``available_at`` order: each claim read the whole backlog and sorted it to keep a batch, so a
backlog of 100,000 events (an outage, a catch-up) made every batch pay for all of them. This
index holds the pending events only, in the order they are claimed: a claim walks it from the
oldest and stops at the batch. The leased (not yet due) events in front of the due ones, a
batch per worker or more, are stepped over on ``available_at`` in the index itself, without a
visit to their rows. It stays small, as events leave it when they are applied, skipped or
parked.

``(status, available_at)`` is kept: the counts, the ``/metrics`` summary, the leases count and
the failed list read it. Both databases get the index (SQLite uses a partial index when the
query names ``status = 'pending'`` as written here). Building it holds writes to
``stripe_events`` while it runs.

Revision ID: 0012_pending_claim_index
Revises: 0011_product_customer_counts
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_pending_claim_index"
down_revision = "0011_product_customer_counts"
branch_labels = None
depends_on = None

INDEX = "ix_stripe_events_pending_claim_order"
PENDING = "status = 'pending'"


def upgrade() -> None:
    op.create_index(INDEX, "stripe_events", ["created", "id", "available_at"], unique=False,
                    postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))


def downgrade() -> None:
    op.drop_index(INDEX, table_name="stripe_events")
