"""``GET /healthz``: 200 ``{"status": "ok"}`` when the database answers and holds the schema this
code needs; 503 with the reason otherwise. No token needed.

A database never migrated, or behind the newest migration, is unhealthy: every webhook would
answer 500 there (``indexer.schema``). The schema is checked until it is first found current;
from then on a request costs a ``SELECT 1``, as before.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify

from indexer import db, schema
from indexer.errors import DatabaseUnavailable
from indexer.web import engine

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

SCHEMA_OK = "indexer.schema_ok"


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        if current_app.extensions.get(SCHEMA_OK):
            db.ping(engine())
        else:
            problem = current_schema_problem()
            if problem is not None:
                log.error("healthz: %s", problem)
                return jsonify({"status": "unavailable", "error": problem}), 503
    except DatabaseUnavailable as exc:
        log.error("healthz: %s", exc.message)
        return jsonify({"status": "unavailable", "error": exc.public_message}), 503
    return jsonify({"status": "ok"}), 200


def current_schema_problem() -> str | None:
    """``schema.problem`` of this app's database, not asked again once it was None."""
    if current_app.extensions.get(SCHEMA_OK):
        return None
    problem = schema.problem(engine())
    if problem is None:
        current_app.extensions[SCHEMA_OK] = True
    return problem
