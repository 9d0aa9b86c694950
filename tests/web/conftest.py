"""Shared by the dashboard's tests: an app with dashboard and API tokens and a fixed secret key,
and a test client signed in the way a browser signs in (the form's CSRF token, then the POST)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from indexer import create_app
from indexer.config import Settings
from tests.conftest import engine_url

TOKEN = "dash_" + "t" * 40
API_TOKEN = "api_" + "a" * 40
SECRET_KEY = "k" * 48


def make_app(engine: Engine, **settings: Any) -> Flask:
    settings.setdefault("api_tokens", (API_TOKEN,))
    settings.setdefault("dashboard_tokens", (TOKEN,))
    settings.setdefault("secret_key", SECRET_KEY)
    return create_app(Settings(database_url=engine_url(engine), **settings))


@pytest.fixture
def app(engine: Engine) -> Iterator[Flask]:
    app = make_app(engine)
    yield app
    app.extensions["indexer.engine"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def signed_in(client: FlaskClient) -> FlaskClient:
    assert sign_in(client).status_code == 302
    return client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: FlaskClient, token: str = TOKEN, next_path: str = "/dashboard/") -> Any:
    csrf = csrf_of(client.get("/dashboard/sign-in").text)
    return client.post("/dashboard/sign-in", data={"token": token, "csrf_token": csrf, "next": next_path})
