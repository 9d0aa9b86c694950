"""Alembic environment: the URL and connection come from ``indexer.db.migrate``."""

from __future__ import annotations

from alembic import context

from indexer.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `indexer migrate` (indexer.db.migrate)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
