"""Stripe webhook signatures (``Stripe-Signature: t=...,v1=...``), verified on the raw body.

Several secrets may be configured while one is rotated; the header may carry several ``v1``
values and a fake ``v0`` one in test mode. Any matching ``v1`` under any secret is enough. The
header is untrusted text: signatures are compared as bytes, so any character in it is a mismatch,
never an error.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from indexer.errors import SignatureError

DEFAULT_TOLERANCE = 300


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + payload, hashlib.sha256)
    return mac.hexdigest()


def verify(
    payload: bytes,
    header: str | None,
    secrets: tuple[str, ...],
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> int:
    """Return the signed timestamp, or raise ``SignatureError`` saying what is wrong."""
    if not header:
        raise SignatureError("missing Stripe-Signature header")
    timestamp: int | None = None
    signatures: list[str] = []
    for element in header.split(","):
        key, _, value = element.strip().partition("=")
        if key == "t":
            if not (value.isascii() and value.isdigit() and len(value) <= 18):
                raise SignatureError("malformed timestamp in Stripe-Signature header")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None:
        raise SignatureError("no timestamp in Stripe-Signature header")
    if not signatures:
        raise SignatureError("no v1 signature in Stripe-Signature header")
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise SignatureError("Stripe-Signature timestamp is outside the tolerance zone")
    candidates = [value.encode("utf-8", "replace") for value in signatures]
    for secret in secrets:
        expected = sign(payload, secret, timestamp).encode()
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            return timestamp
    raise SignatureError("no signature matches the payload under any configured secret")
