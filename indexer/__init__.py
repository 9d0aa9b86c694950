"""Stripe purchase indexer: answers "which customers bought this product?".

``create_app()`` is the Flask app factory: the webhook receiver, the health check, the metrics
and the query API share it, under ``indexer serve`` and under gunicorn alike.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from indexer.config import Settings

if TYPE_CHECKING:
    from flask import Flask


def create_app(settings: Settings | None = None) -> Flask:
    """The app. Flask is imported here, not with the package: commands that serve nothing
    (``indexer backfill``, ``customers``...) start without loading it."""
    from flask import Flask

    from indexer import db
    from indexer.web import api, errors, health, metrics, webhooks
    from indexer.web.dashboard import bp as dashboard

    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["INDEXER_SETTINGS"] = settings
    app.extensions["indexer.engine"] = db.make_engine(settings.database_url, reads=True)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(dashboard)
    errors.register(app)
    webhooks.install(app)
    if not settings.webhook_secrets:
        logging.getLogger(__name__).error(
            "STRIPE_WEBHOOK_SECRET is not set: POST /webhooks/stripe answers 500 and stores nothing"
        )
    return app
