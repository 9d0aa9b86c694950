"""The peer bench's burst load generator: pre-signed deliveries posted by ``wrk``.

The earlier generator (``sync_engine.cjs post``) signed each delivery as it sent it, in one Node
process on the same 2 cores as the system under test: every system, ours and the peers, then
answered at p50 18-23 ms over 16 connections whatever it did per event, so the generator was the
likely bound. Here every delivery is signed just before the burst (a signature is valid 300 s,
so a burst sends nothing after ``MAX_SEND_S``), and one C process, ``wrk -t1 -c16`` running
``burst.lua``, posts them in order over 16 keep-alive connections, each exactly once. The Lua
script times first send to last answer with the monotonic clock, counts statuses, writes its
figures as soon as the last delivery is answered and stops; ``wrk``'s main thread would sleep out
its ``-d``, so ``burst`` interrupts it (SIGINT) the moment that file appears, and ``done()``
writes wrk's latency percentiles beside it. ``burst`` returns what ``sync_engine.cjs post``
prints, so the rest of the bench reads either generator the same way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import http_load
from indexer.ingest import signatures

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "burst.lua"
#: Stripe's (and our) signature tolerance is 300 s: nothing is sent after this, so the last
#: pre-signed delivery is still valid when it arrives, after a request timeout of up to 30 s.
MAX_SEND_S = 260.0


def write_requests(events: Path, out: Path, secret: str, timestamp: int | None = None) -> int:
    """``events`` (one compact JSON body a line) as ``burst.lua`` reads them: one
    ``signature<TAB>body`` a line, in the same order, all signed at ``timestamp`` (now). Returns
    how many."""
    stamp = int(time.time()) if timestamp is None else timestamp
    count = 0
    with out.open("w") as file:
        for body in events.read_text().splitlines():
            if not body:
                continue
            if "\t" in body or "\r" in body:
                raise ValueError("a delivery body holds a tab or a carriage return: not compact JSON")
            file.write(f"t={stamp},v1={signatures.sign(body.encode(), secret, stamp)}\t{body}\n")
            count += 1
    return count


def load_figures(thread: dict[str, Any] | None, done: dict[str, Any] | None,
                 gave_up: float | None = None, cpu_seconds: float | None = None) -> dict[str, Any]:
    """The figures ``sync_engine.cjs post`` prints, from what ``burst.lua`` wrote: ``thread``
    (the file written at the last answer; None if it never came) and ``done`` (wrk's latency
    percentiles and the thread's counters when interrupted; None if wrk never got that far).
    When some delivery was never answered, the burst lasted until ``gave_up`` (the monotonic
    clock, which ``burst.lua`` reads too), as the Node generator's lasts until its last request
    times out: a system that leaves a request hanging is not timed as if it had answered it.
    ``cpu_seconds``: what wrk used, reading the file included (``cpuSeconds``, as Node prints)."""
    if thread is None and done is None:
        raise RuntimeError("wrk wrote no result")
    source = thread if thread is not None else done
    assert source is not None
    statuses = {str(int(float(k))): int(v) for k, v in (source.get("statuses") or {}).items()}
    sent, answered, lost = (int(source.get(k) or 0) for k in ("sent", "answered", "lost"))
    if lost:
        statuses["error"] = lost
    if thread is not None:
        seconds, last_ack = float(thread["seconds"]), float(thread["lastAck"])
    else:
        assert done is not None
        first = done.get("first")
        seconds = float(done["last"]) - float(first) if first is not None and done.get("last") else 0.0
        if gave_up is not None and first is not None:
            seconds = max(seconds, gave_up - float(first))
        last_ack = float(done["last_ok"]) - float(first) if first is not None and done.get("last_ok") else 0.0
    latency = done or {}
    return {"sent": sent, "total": int(source["total"]), "seconds": seconds, "lastAck": last_ack,
            "statuses": statuses, "timeouts": max(0, sent - answered - lost),
            "p50": latency.get("p50"), "p99": latency.get("p99"), "max": latency.get("max"),
            "cpuSeconds": cpu_seconds, "generator": "wrk"}


def burst(url: str, events: Path, secret: str, workdir: Path, cap: float, connections: int = 16,
          request_timeout: float = 30.0) -> dict[str, Any]:
    """Posts every delivery of ``events`` to ``url`` once, pre-signed, with ``wrk -t1``; stops
    sending after ``cap`` seconds (at most ``MAX_SEND_S``) and waits ``request_timeout`` more for
    the answers."""
    requests = workdir / "burst.requests"
    result = workdir / "burst.result"
    sent_all = Path(f"{result}.sent")
    for stale in (result, Path(f"{result}.done"), sent_all):
        stale.unlink(missing_ok=True)
    send_for = min(cap, MAX_SEND_S)
    write_requests(events, requests, secret)
    deadline_s = send_for + request_timeout + 5
    env = {**os.environ, "PEER_REQUESTS": str(requests), "PEER_RESULT": str(result),
           "PEER_CAP_S": str(send_for), "PEER_CONNECTIONS": str(connections)}
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{int(deadline_s) + 10}s", f"--timeout={int(request_timeout)}s",
           "-s", str(SCRIPT), url]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + deadline_s
    try:
        while not result.exists() and proc.poll() is None and time.monotonic() < deadline:
            if sent_all.exists():
                deadline = min(deadline, time.monotonic() + request_timeout)
            time.sleep(0.01)
        gave_up = None if result.exists() else time.monotonic()
        cpu = http_load.process_tree_cpu(proc.pid)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
    finally:
        requests.unlink(missing_ok=True)
        sent_all.unlink(missing_ok=True)
    thread = json.loads(result.read_text()) if result.exists() else None
    done_file = Path(f"{result}.done")
    done = json.loads(done_file.read_text()) if done_file.exists() else None
    if thread is None and done is None:
        raise RuntimeError(f"wrk exited with {proc.returncode} and wrote nothing: {err[-2000:]}")
    return load_figures(thread, done, gave_up, cpu)
