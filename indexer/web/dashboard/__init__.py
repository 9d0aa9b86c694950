"""The dashboard (``/dashboard/``): the index's answers as server-rendered pages, for people who
will never write SQL or send a token header.

Jinja templates beside this package (autoescaped: product and customer names are user input),
one stylesheet, no JavaScript (the daily sales chart is an SVG drawn on the server). Every read
goes through ``indexer.answers.queries`` and ``indexer.ingest.event_store``, the functions the
API and the CLI use. Access is a signed session cookie given for one of the sign-in tokens
(``auth``); every form that changes something carries a CSRF token.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint(
    "dashboard", __name__, url_prefix="/dashboard", template_folder="templates", static_folder="static",
    static_url_path="/static",
)

from indexer.web.dashboard import auth, pages  # noqa: E402,F401  (they add their routes to bp)
