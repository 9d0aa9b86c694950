from __future__ import annotations

from flask import Blueprint, Response, jsonify

from indexer import db
from indexer.errors import DatabaseUnavailable
from indexer.web import engine

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        db.ping(engine())
    except DatabaseUnavailable as exc:
        return jsonify({"status": "unavailable", "error": exc.message}), 503
    return jsonify({"status": "ok"}), 200
