"""bench/peer's own logic: the spec it gives the peer's migrations, how it judges an answer, and
its burst generator (the request file wrk replays, the figures its Lua script writes)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.peer import run, spec, wrk_burst
from indexer.ingest import signatures
from stripe_sandbox import generator
from stripe_sandbox.store import Store


@pytest.fixture(scope="module")
def store() -> Store:
    s = Store()
    generator.generate(s, 150, 0, now=1_790_000_000)
    return s


def test_spec_has_one_schema_per_resource_with_typed_nullable_fields() -> None:
    schemas = spec.build()["components"]["schemas"]
    session = schemas["checkout_session"]
    assert session["x-resourceId"] == "checkout.session"
    props = session["properties"]
    assert props["created"] == {"type": "integer", "nullable": True}
    assert props["amount_total"] == {"type": "string", "nullable": True}  # null in the fixture
    assert props["livemode"]["type"] == "boolean"
    assert props["customer_details"]["type"] == "object"
    assert schemas["invoice"]["x-resourceId"] == "invoice"


def _answer(truth: run.Truth, payments: int = 1) -> dict[tuple[str, str], int]:
    return {(prod, who): payments for prod, whos in truth.pairs.items() for who in whos}


def test_the_truth_is_judged_right_and_every_gap_is_named(store: Store) -> None:
    truth = run.Truth(store)
    assert truth.cases["guests"] and truth.cases["session >100 lines"]
    judged = truth.judge(_answer(truth))
    assert (judged["missed"], judged["extra"], judged["refunded shown"]) == (0, 0, 0)
    assert judged["guests"] == f"{len(truth.cases['guests'])}/{len(truth.cases['guests'])}"

    guest = next(iter(truth.cases["guests"]))
    partial = _answer(truth)
    del partial[guest]
    partial[("prod_nobody", "cus_nobody")] = 1
    judged = truth.judge(partial)
    assert (judged["missed"], judged["extra"], judged["right"]) == (1, 1, False)
    assert judged["guests"] == f"{len(truth.cases['guests']) - 1}/{len(truth.cases['guests'])}"


def test_a_session_and_its_invoice_counted_twice_is_wrong(store: Store) -> None:
    truth = run.Truth(store)
    assert truth.cases["subscription sessions"]
    judged = truth.judge(_answer(truth, payments=2))
    assert judged["missed"] == 0 and judged["payments"] != judged["payments true"]
    assert judged["right"] is False


def test_the_sandbox_every_system_faces_enforces_one_limit(store: Store) -> None:
    """Like for like: the webhook path's sandbox (``run.serve``, bench/backfill.py's forked
    helper on a port of the bench's range) answers 429 above its limit, to any client, and
    counts them."""
    import urllib.error
    import urllib.request

    pid, url = run.serve(store, rate_limit=2)
    try:
        assert int(url.rsplit(":", 1)[1]) in run.PORT_RANGE
        statuses = []
        for _ in range(6):
            request = urllib.request.Request(f"{url}/v1/products?limit=1",
                                             headers={"Authorization": f"Bearer {run.KEY}"})
            try:
                statuses.append(urllib.request.urlopen(request, timeout=10).status)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
        total, limited = run.sandbox_requests(url)
    finally:
        run.ours_backfill.stop(pid)
    assert 429 in statuses and 200 in statuses
    assert (total, limited) == (6, statuses.count(429))


def _events(path: Path, count: int) -> Path:
    path.write_text("".join(json.dumps({"id": f"evt_{i}", "object": "event", "data": {"note": "a\tb\u00e9"}},
                                       separators=(",", ":")) + "\n" for i in range(count)))
    return path


def test_the_request_file_holds_each_delivery_once_in_order_signed_as_stripe_signs(tmp_path: Path) -> None:
    events = _events(tmp_path / "events.jsonl", 5)
    count = wrk_burst.write_requests(events, tmp_path / "requests", "whsec_x", timestamp=1_790_000_000)
    lines = (tmp_path / "requests").read_text().splitlines()
    assert count == len(lines) == 5
    assert [line.split("\t", 1)[1] for line in lines] == events.read_text().splitlines()
    for line in lines:
        header, body = line.split("\t", 1)
        assert signatures.verify(body.encode(), header, ("whsec_x",), now=1_790_000_100) == 1_790_000_000
        with pytest.raises(signatures.SignatureError):
            signatures.verify(body.encode(), header, ("whsec_other",), now=1_790_000_100)

    (tmp_path / "raw.jsonl").write_text('{"a":"tab\there"}\n')
    with pytest.raises(ValueError, match="tab"):
        wrk_burst.write_requests(tmp_path / "raw.jsonl", tmp_path / "requests", "whsec_x")


def test_the_lua_figures_read_as_the_node_generator_prints_them() -> None:
    thread = {"total": 10, "sent": 10, "answered": 9, "lost": 1, "seconds": 2.0, "lastAck": 1.5,
              "statuses": {"200.000000": 8, "400.000000": 1}, "complete": True}
    done = {"p50": 4.2, "p99": 31.0, "max": 40.0, "total": 10, "sent": 10, "answered": 9, "lost": 1}
    load = wrk_burst.load_figures(thread, done, cpu_seconds=0.5)
    assert load == {"sent": 10, "total": 10, "seconds": 2.0, "lastAck": 1.5,
                    "statuses": {"200": 8, "400": 1, "error": 1}, "timeouts": 0,
                    "p50": 4.2, "p99": 31.0, "max": 40.0, "cpuSeconds": 0.5, "generator": "wrk"}
    row = run.summarize_load(load)
    assert (row["acked"], row["not_acked"], row["ack_eps"], row["capped"]) == (8, 2, 5.3, False)
    assert row["generator_cpu_pct"] == 25

    # never finished: wrk interrupted at the deadline, the counters come from done()
    unfinished = {**done, "answered": 7, "lost": 0, "statuses": {"200.000000": 7},
                  "first": 100.0, "last": 103.0, "last_ok": 102.5}
    load = wrk_burst.load_figures(None, unfinished)
    assert (load["seconds"], load["lastAck"], load["timeouts"]) == (3.0, 2.5, 3)
    load = wrk_burst.load_figures(None, unfinished, gave_up=135.0)  # the harness waited for them
    assert (load["seconds"], load["lastAck"]) == (35.0, 2.5)
    assert run.summarize_load(load)["capped"] is True
    assert run.summarize_load(load)["generator_cpu_pct"] is None
    with pytest.raises(RuntimeError):
        wrk_burst.load_figures(None, None)


class _Receiver(BaseHTTPRequestHandler):
    """Keeps every body it is sent; answers 400 to ``evt_3``, closes the connection without an
    answer on ``evt_7`` (the delivery is lost), and leaves ``evt_11`` unanswered for 3 s."""

    protocol_version = "HTTP/1.1"
    received: list[str] = []
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        assert self.headers["Stripe-Signature"].startswith("t=")
        with self.lock:
            self.received.append(body)
        event = json.loads(body)["id"]
        if event in ("evt_7", "evt_11"):
            if event == "evt_11":
                time.sleep(3)
            self.close_connection = True
            return
        self.send_response(400 if event == "evt_3" else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (Debian package wrk)")
def test_the_wrk_burst_sends_each_delivery_once_and_counts_every_answer(tmp_path: Path, receiver: str) -> None:
    events = _events(tmp_path / "events.jsonl", 200)
    started = time.monotonic()
    load = wrk_burst.burst(receiver, events, "whsec_x", tmp_path, cap=20, connections=4, request_timeout=1)
    assert time.monotonic() - started < 4  # given up a request timeout after the last was sent
    assert sorted(_Receiver.received) == sorted(events.read_text().splitlines())
    assert (load["sent"], load["total"], load["timeouts"]) == (200, 200, 1)
    assert load["statuses"] == {"200": 197, "400": 1, "error": 1}
    assert 0 < load["lastAck"] < load["seconds"] and 1 <= load["seconds"] < 4
    assert run.summarize_load(load)["capped"] is True
    assert load["p50"] is not None and 0 < load["p50"] <= load["p99"] <= load["max"]
    assert load["cpuSeconds"] is not None and load["cpuSeconds"] >= 0
    assert not (tmp_path / "burst.requests").exists()

