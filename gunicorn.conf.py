"""gunicorn settings of the web process (``Procfile``); the command line adds the bind address,
the workers and where the access log goes.

The access log names no user and no query string: gunicorn's default format logs ``%(u)s``,
the user of HTTP Basic auth, so a query API token sent that way reached the log, and a token
or an email address could ride in a query string. No header is logged either. Under the
Procfile's worker (``indexer.web.asgi.Worker``) uvicorn writes the access line in its own format
(client, request line, status) and ``indexer.web.asgi.AccessLogFilter`` drops its query string;
``access_log_format`` serves gunicorn's own workers (the benches' yardsticks).
"""

import gc

access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'

# The longest request line gunicorn's own workers take (their maximum): a longer one gets
# gunicorn's 414, before the app could answer in Stripe's error shape. The Procfile's worker
# (``indexer.web.asgi.Worker``) parses with uvicorn's httptools instead, which has no such line
# limit: a 9,000-character line reaches the app (the query API refuses ids over 512 characters
# with a JSON 400), a 100,000-character one gets httptools' plain-text 400.
limit_request_line = 8190

# The app is loaded once, in the master, before it opens the port; the workers are forked from
# it ready to answer. Without it the port opened at once and the workers then spent seconds
# importing the app, so a platform that routes traffic as soon as the port opens (or a burst of
# webhooks after a deploy) queued on a process that could not answer yet (figures: README,
# "Benchmarks"). An app that cannot load stops gunicorn before it listens, instead of a port
# that accepts and never answers.
preload_app = True


def post_fork(server: object, worker: object) -> None:
    """A forked worker gets a pool of its own: any connection the master's engine opened while
    loading the app stays the master's (SQLAlchemy's recipe for ``fork``: dispose without
    closing).

    Then it moves everything it inherited (the loaded app, its modules) out of the garbage
    collector's reach (``gc.freeze``): those objects live as long as the worker, yet each full
    collection walked them all, a pause that showed as the p99 of dashboard pages
    (``bench/dashboard_pages.py``). Objects made while answering are collected as before."""
    app = getattr(getattr(server, "app", None), "callable", None)
    engine = getattr(app, "extensions", {}).get("indexer.engine")
    if engine is not None:
        engine.dispose(close=False)
    gc.freeze()
