"""The WSGI entry point for gunicorn: ``gunicorn indexer.wsgi:app`` (see ``Procfile``)."""

from indexer import create_app

app = create_app()
