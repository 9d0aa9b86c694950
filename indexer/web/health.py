from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify

from indexer import db
from indexer.errors import DatabaseUnavailable
from indexer.web import engine

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        db.ping(engine())
    except DatabaseUnavailable as exc:
        log.error("healthz: %s", exc.message)
        return jsonify({"status": "unavailable", "error": exc.public_message}), 503
    return jsonify({"status": "ok"}), 200
