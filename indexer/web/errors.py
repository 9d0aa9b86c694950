"""The one place errors become HTTP responses, in Stripe's error shape."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from indexer.errors import IndexerError

log = logging.getLogger(__name__)


def error_response(
    status: int, error_type: str, message: str, param: str | None = None, code: str | None = None
) -> Response:
    body: dict[str, str] = {"type": error_type, "message": message}
    if code:
        body["code"] = code
    if param:
        body["param"] = param
    response = jsonify({"error": body})
    response.status_code = status
    return response


def register(app: Flask) -> None:
    @app.errorhandler(IndexerError)
    def _indexer_error(err: IndexerError) -> Response:
        if err.http_status >= 500:
            log.error("%s: %s", type(err).__name__, err.message)
        code = getattr(err, "code", None) or ("resource_missing" if err.http_status == 404 else None)
        return error_response(err.http_status, err.error_type, err.public_message, err.param, code)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        status = err.code or 500
        kind = "invalid_request_error" if status < 500 else "api_error"
        if status == 404:
            message = "Unrecognized request URL. Please see the API reference at /openapi.json."
        else:
            message = err.description or err.name
        response = error_response(status, kind, message)
        for name, value in err.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("unexpected error")
        return error_response(500, "api_error", "An unexpected error occurred.")
