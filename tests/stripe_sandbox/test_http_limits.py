"""The sandbox answers like Stripe whatever the size of a request: ids of any length get Stripe's
JSON error, and what ``http.server`` refuses on its own (a request line over 1 MiB, a header
line over 64 KB, an unknown method) is JSON in Stripe's error shape too, never an HTML page."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
import requests
import stripe

from stripe_sandbox.server import MAX_REQUEST_LINE, SandboxServer

AUTH = {"Authorization": "Bearer sk_test_limits"}


def raw(server: Any, request: bytes) -> tuple[int, dict[str, str], Any]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


@pytest.mark.parametrize("length", [9_000, 70_000, 500_000])
def test_an_id_of_any_length_gets_stripes_json_404(sandbox: SandboxServer, length: int) -> None:
    response = requests.get(f"{sandbox.url}/v1/customers/cus_{'a' * length}", headers=AUTH, timeout=30)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "resource_missing")


def test_the_sdk_sees_an_invalid_request_for_a_huge_id(sandbox: SandboxServer) -> None:
    client = stripe.StripeClient("sk_test_limits", base_addresses={"api": sandbox.url}, max_network_retries=0)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.retrieve("cs_test_" + "b" * 100_000)


def test_a_request_line_over_the_limit_is_a_json_400(sandbox: SandboxServer) -> None:
    target = b"/v1/customers/cus_" + b"c" * MAX_REQUEST_LINE
    status, headers, body = raw(sandbox, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, headers["Content-Type"]) == (400, "application/json")
    assert body["error"]["type"] == "invalid_request_error"


def test_a_header_line_over_64_kb_is_json_too(sandbox: SandboxServer) -> None:
    status, headers, body = raw(sandbox, b"GET /v1/customers HTTP/1.1\r\nHost: x\r\nX-Big: " + b"d" * 70_000
                                + b"\r\n\r\n")
    assert (status, headers["Content-Type"]) == (431, "application/json")
    assert body["error"]["type"] == "invalid_request_error"


def test_a_malformed_request_line_and_an_unknown_method_are_json(sandbox: SandboxServer) -> None:
    assert raw(sandbox, b"GET /v1/customers HTTP/9.x\r\n\r\n")[0] == 400
    status, _, body = raw(sandbox, b"BREW /v1/customers HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 501 and body["error"]["type"] == "api_error"


def test_both_cursors_in_one_list_call_are_400_as_stripe_answers(sandbox: SandboxServer) -> None:
    response = requests.get(f"{sandbox.url}/v1/checkout/sessions", headers=AUTH, timeout=30,
                            params={"starting_after": "cs_test_a", "ending_before": "cs_test_b"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "ending_before" and "only specify one of" in error["message"]
