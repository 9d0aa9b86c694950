"""A property-based fuzzer over what can reach ``POST /webhooks/stripe``: bodies (events with any
field of any JSON type, text with NULs and lone surrogates, other encodings, bytes, oversized)
under headers (a valid signature, a stale or tampered one, garbage, none). Whatever arrives, the
answer is never a 5xx, nothing is stored without a valid signature, and what is stored is the
body verbatim; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from indexer import create_app, db, models
from indexer.config import Settings
from indexer.ingest import event_store, signatures
from tests.conftest import engine_url

SECRET = "whsec_fuzz"
MAX_BYTES = 8192

json_scalars = st.none() | st.booleans() | st.integers() | st.integers(min_value=2**62, max_value=2**80) \
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
json_values = st.recursive(json_scalars, lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=10), children, max_size=4), max_leaves=12)
ids = st.builds(lambda s: "evt_" + s, st.text(st.characters(codec="utf-8"), min_size=1, max_size=30)) \
    | st.just("evt_" + "x" * 300) | json_values
types = st.sampled_from(sorted(event_store.APPLIED_TYPES) + ["customer.created"]) | st.text(max_size=200) | json_values
objects = st.fixed_dictionaries({"id": st.text(max_size=300) | json_values, "object": st.text(max_size=20)},
                                optional={"created": json_values, "charge": json_values, "lines": json_values,
                                          "name": st.text()}) | json_values


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    event = {
        "id": draw(ids), "object": draw(st.just("event") | json_values), "type": draw(types),
        "created": draw(st.integers(min_value=-(2**70), max_value=2**70) | json_values),
        "livemode": draw(st.booleans() | json_values), "data": draw(st.builds(lambda o: {"object": o}, objects)
                                                                    | json_values),
    }
    for key, values in (("account", st.none() | st.text(max_size=300) | json_values),
                        ("api_version", st.none() | st.text(max_size=100) | json_values)):
        if draw(st.booleans()):
            event[key] = draw(values)
    return event


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["event", "event", "event", "ascii", "utf16", "bytes", "big"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "big":
        return b'{"id": "evt_big", "pad": "' + b"x" * draw(st.integers(MAX_BYTES, 3 * MAX_BYTES)) + b'"}'
    text = json.dumps(draw(events()), ensure_ascii=kind == "ascii")
    try:
        return text.encode("utf-16" if kind == "utf16" else "utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=120)


@st.composite
def signature_headers(draw: st.DrawFn, body: bytes) -> tuple[dict[str, str], bool]:
    """Headers, and whether they carry a valid signature of ``body``."""
    now = int(time.time())
    kind = draw(st.sampled_from(["valid", "valid", "rotated", "stale", "tampered", "garbage", "missing", "v0"]))
    if kind == "missing":
        return {}, False
    if kind == "garbage":
        return {"Stripe-Signature": draw(header_text)}, False
    t = now - 400 if kind == "stale" else now
    good = signatures.sign(body, SECRET, t)
    if kind == "tampered":
        good = draw(st.text("0123456789abcdef", min_size=64, max_size=64).filter(lambda v: v != good))
    if kind == "v0":
        return {"Stripe-Signature": f"t={t},v0={good}"}, False
    extra = draw(st.lists(header_text.filter(lambda v: "," not in v), max_size=2))
    parts = [f"t={t}", *(f"v1={v}" for v in extra), f"v1={good}"]
    return {"Stripe-Signature": ",".join(parts)}, kind in ("valid", "rotated")


@pytest.fixture
def app(engine: Engine) -> Iterator[Flask]:
    app = create_app(Settings(database_url=engine_url(engine), webhook_secrets=("whsec_other", SECRET),
                              webhook_max_bytes=MAX_BYTES))
    yield app
    app.extensions["indexer.engine"].dispose()


def count(engine: Engine) -> int:
    with db.transaction(engine) as conn:
        return conn.execute(select(func.count()).select_from(models.events_t)).scalar_one()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_no_body_or_header_gets_a_5xx_or_stores_what_is_not_signed(app: Flask, engine: Engine, data: Any) -> None:
    body = data.draw(bodies(), label="body")
    headers, valid = data.draw(signature_headers(body), label="headers")
    before = count(engine)
    response = app.test_client().post("/webhooks/stripe", data=body, headers=headers)
    assert response.status_code < 500, response.get_data()
    assert response.is_json and ("error" in response.get_json() or "received" in response.get_json())
    after = count(engine)
    if not valid or len(body) > MAX_BYTES:
        assert response.status_code in (400, 413) and after == before
        return
    if response.status_code != 200:
        assert response.status_code == 400 and after == before
        return
    event = json.loads(body)
    with db.transaction(engine) as conn:
        stored = conn.execute(select(models.events_t.c.payload).where(models.events_t.c.id == event["id"])).scalar_one()
    assert after == before + (0 if response.get_json()["duplicate"] else 1)
    assert stored == body.decode() or response.get_json()["duplicate"]
