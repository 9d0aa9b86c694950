"""Flask blueprints: webhooks, health and the query API, plus the one error mapping."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import Engine

from indexer.config import Settings


def engine() -> Engine:
    return current_app.extensions["indexer.engine"]


def settings() -> Settings:
    return current_app.config["INDEXER_SETTINGS"]
