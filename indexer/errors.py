"""The error hierarchy: each error knows its HTTP status and its CLI exit code.

The web layer (``indexer.web``) and the CLI (``indexer.cli``) map these in one place each;
everything else raises them and never formats a response or exits itself.
"""

from __future__ import annotations


class IndexerError(Exception):
    """Base of every error the indexer reports to a user."""

    http_status: int = 500
    exit_code: int = 1
    error_type: str = "api_error"
    transient: bool = False

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    @property
    def public_message(self) -> str:
        """What an HTTP client is told; ``message`` may hold what only the operator should see."""
        return self.message


class ConfigError(IndexerError):
    """A setting is missing or malformed (no API key, bad DATABASE_URL, no webhook secret)."""

    http_status = 500
    exit_code = 2


class UsageError(IndexerError):
    """The caller asked for something malformed: a bad date, a bad parameter."""

    http_status = 400
    exit_code = 2
    error_type = "invalid_request_error"


class BadInput(UsageError):
    """A file the command was given cannot be read as what it must be (not a balance report,
    a malformed amount): nothing is written."""


class ReportPending(IndexerError):
    """A report run is still running when the command stops waiting: run it again to resume."""

    http_status = 202
    exit_code = 6


class NotFound(IndexerError):
    http_status = 404
    exit_code = 3
    error_type = "invalid_request_error"


class Unauthorized(IndexerError):
    http_status = 401
    exit_code = 2
    error_type = "authentication_error"


class SignatureError(IndexerError):
    """A webhook whose signature, timestamp or body cannot be trusted. Nothing is stored."""

    http_status = 400
    exit_code = 2
    error_type = "invalid_request_error"


class StripeError(IndexerError):
    """Stripe refused a request for good (bad request, missing object)."""

    http_status = 502
    exit_code = 4


class StripeAuthError(StripeError):
    """Stripe rejected the API key: retrying will not help."""


class StripeUnavailable(StripeError):
    """Stripe could not answer now (429, 5xx, network): retry later."""

    http_status = 503
    transient = True


class DatabaseUnavailable(IndexerError):
    """The database cannot be reached or refused the write: retry later.

    Its message names the server (host, port) as the driver reports it: logged and printed by
    the CLI, never sent to an HTTP client.
    """

    http_status = 503
    exit_code = 5
    transient = True

    @property
    def public_message(self) -> str:
        return "The database is unavailable; retry later."
