"""The signature scheme against the vectors in tests/data/stripe/webhook_signature_test_vectors.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.errors import SignatureError
from indexer.ingest import signatures


@pytest.fixture
def vectors(shared_stripe: Path) -> dict:
    return json.loads((shared_stripe / "webhook_signature_test_vectors.json").read_text())


def test_sign_matches_the_expected_v1_signature(vectors: dict) -> None:
    payload = vectors["payload"].encode()
    assert signatures.sign(payload, vectors["secret"], vectors["timestamp"]) == vectors["expected_v1_signature"]


@pytest.mark.parametrize("name", ["single", "test_mode_with_fake_v0", "secret_rotation_two_v1"])
def test_valid_headers_verify(vectors: dict, name: str) -> None:
    now = vectors["timestamp"] + 10
    header = vectors["headers"][name]
    assert signatures.verify(vectors["payload"].encode(), header, (vectors["secret"],), now=now) == vectors["timestamp"]


@pytest.mark.parametrize(
    ("name", "message"),
    [("tampered", "no signature matches"), ("no_v1", "no v1 signature")],
)
def test_invalid_headers_are_refused(vectors: dict, name: str, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        signatures.verify(vectors["payload"].encode(), vectors["headers"][name], (vectors["secret"],),
                          now=vectors["timestamp"] + 10)


def test_any_configured_secret_may_match_during_rotation(vectors: dict) -> None:
    secrets = (vectors["old_secret_during_rotation"], vectors["secret"])
    header = vectors["headers"]["single"]
    assert signatures.verify(vectors["payload"].encode(), header, secrets, now=vectors["timestamp"])


def test_a_changed_body_fails(vectors: dict) -> None:
    body = vectors["payload"].rstrip("\n").encode()
    with pytest.raises(SignatureError):
        signatures.verify(body, vectors["headers"]["single"], (vectors["secret"],), now=vectors["timestamp"])


def test_old_timestamps_are_refused_and_future_ones_accepted(vectors: dict) -> None:
    payload, header = vectors["payload"].encode(), vectors["headers"]["single"]
    with pytest.raises(SignatureError, match="tolerance"):
        signatures.verify(payload, header, (vectors["secret"],), now=vectors["timestamp"] + 301)
    assert signatures.verify(payload, header, (vectors["secret"],), now=vectors["timestamp"] - 3600)


@pytest.mark.parametrize("header", [None, "", "garbage", "t=abc,v1=00", "v1=00"])
def test_malformed_headers_are_refused(header: str | None) -> None:
    with pytest.raises(SignatureError):
        signatures.verify(b"{}", header, ("whsec_x",))
