"""Load from a separate process: gunicorn servers under ``wrk``, compared in alternating rounds.

The HTTP benchmarks (webhook ingest, query API) each measure our app beside a minimal Flask app
on the same machine in the same run. Both servers run with the same gunicorn options, each gets
an unmeasured warm-up round (workers import the app and open their database connections on the
first requests), then the rounds alternate so a noisy minute hits both. The figure per server is
the median of its rounds; every round is printed too.

wrk's latency figures are not always possible: now and then a round reports a mean latency
that, times its requests, exceeds its connections times its duration (Little's law: at most
``connections`` requests are ever in flight), by up to five times, seen here with and without
keep-alive. Such a round is marked ``!`` and left out of the latency medians (not of the
throughput median); ``ab`` run beside wrk on the same server agreed with wrk's other rounds.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Round:
    rps: float
    p50: float
    p99: float
    requests: int
    non2xx: int
    in_flight: float
    """Mean requests in flight by wrk's own figures (mean latency x requests / seconds)."""
    connections: int

    @property
    def latency_possible(self) -> bool:
        return self.in_flight <= self.connections * 1.1


def add_load_arguments(parser: argparse.ArgumentParser, *, connections: int, workers: int) -> None:
    group = parser.add_argument_group("load")
    group.add_argument("--connections", type=int, default=connections, help="wrk connections")
    group.add_argument("--duration", type=int, default=5, help="seconds per wrk round")
    group.add_argument("--rounds", type=int, default=3, help="measured rounds per server, alternating")
    group.add_argument("--workers", type=int, default=workers, help="gunicorn workers")
    group.add_argument("--worker-class", default="sync", help="gunicorn worker class (sync, gthread)")
    group.add_argument("--threads", type=int, default=1, help="threads per gthread worker")


def describe(args: argparse.Namespace) -> str:
    threads = f" --threads {args.threads}" if args.worker_class == "gthread" else ""
    return (f"gunicorn --workers {args.workers} --worker-class {args.worker_class}{threads}; "
            f"wrk -t2 -c{args.connections} -d{args.duration}s; warm-up + {args.rounds} rounds each, alternating")


@contextmanager
def gunicorn(app: str, port: int, env: dict[str, str], args: argparse.Namespace,
             probe: str = "/healthz", config: bool = True) -> Iterator[subprocess.Popen]:
    """``app`` served on ``port`` until the block ends, with the ``Procfile``'s config file
    (``gunicorn.conf.py``) unless ``config`` is false (plain gunicorn); ready once ``probe``
    answers at all."""
    settings = ["--config", str(ROOT / "gunicorn.conf.py")] if config else []
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), *settings, "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
         "--worker-class", args.worker_class, "--threads", str(args.threads), "--log-level", "warning", app],
        cwd=ROOT, env={**os.environ, **env},
    )
    try:
        _wait_until_up(port, probe, proc)
        yield proc
    finally:
        proc.terminate()
        proc.wait()


def procfile_web(procfile: Path, port: int) -> str:
    """The ``web:`` command of ``procfile`` bound to ``127.0.0.1:port``, ready for ``bash -c``."""
    line = next(line for line in procfile.read_text().splitlines() if line.startswith("web:"))
    return re.sub(r"0\.0\.0\.0:\$\{PORT(:-\d+)?\}", f"127.0.0.1:{port}", line.split(":", 1)[1].strip())


def procfile_workers(command: str, env: dict[str, str]) -> int:
    """How many gunicorn workers ``command`` starts under ``env`` (``WEB_CONCURRENCY`` or its default)."""
    found = re.search(r"--workers[= ](\$\{WEB_CONCURRENCY:-(\d+)\}|\d+)", command)
    if found is None:
        return 1
    if found.group(2) is None:
        return int(found.group(1))
    return int(env.get("WEB_CONCURRENCY") or found.group(2))


@contextmanager
def procfile_server(command: str, port: int, env: dict[str, str], log: Path,
                    app: str | None = None, probe: str = "/healthz") -> Iterator[subprocess.Popen]:
    """A ``Procfile`` command (``procfile_web``) run as a platform runs it, through a shell, its
    output (the access log) going to ``log``; ``app`` replaces its WSGI app (``indexer.wsgi:app``)."""
    if app is not None:
        command = command.replace("indexer.wsgi:app", app)
    path = f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}"
    with log.open("ab") as out:
        proc = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **env, "PATH": path})
    try:
        try:
            _wait_until_up(port, probe, proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; the end of its log:\n{log.read_text()[-2000:]}") from None
        yield proc
    finally:
        proc.terminate()
        proc.wait()


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its live descendants
    (a gunicorn master and its workers), from ``/proc``: a cost per request that a machine
    shared with other work does not blur the way it blurs requests per second."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(child) for child in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def _wait_until_up(port: int, probe: str, proc: subprocess.Popen) -> None:
    for _ in range(150):
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn on port {port} exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", probe)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn on port {port} did not answer {probe}")


def wrk(port: int, path: str, args: argparse.Namespace, *, script: Path | None = None,
        headers: tuple[str, ...] = (), env: dict[str, str] | None = None) -> Round:
    command = ["wrk", "-t", "2", "-c", str(args.connections), "-d", f"{args.duration}s", "--latency"]
    for header in headers:
        command += ["-H", header]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run(command + [f"http://127.0.0.1:{port}{path}"], env={**os.environ, **(env or {})},
                         capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = int(_match(r"(\d+) requests in", out))
    seconds = _ms(_match(r"requests in ([\d.]+\w+),", out)) / 1000
    mean = _ms(_match(r"Latency\s+([\d.]+\w+)", out))
    return Round(
        rps=float(_match(r"Requests/sec:\s+([\d.]+)", out)),
        p50=_ms(_match(r"\s50%\s+([\d.]+\w+)", out)),
        p99=_ms(_match(r"\s99%\s+([\d.]+\w+)", out)),
        requests=requests,
        non2xx=int(non2xx.group(1)) if non2xx else 0,
        in_flight=mean / 1000 * requests / seconds,
        connections=args.connections,
    )


def _match(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"wrk printed no {pattern!r}:\n{text}")
    return found.group(1)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def alternate(runs: dict[str, Callable[[int], Round]], rounds: int) -> dict[str, list[Round]]:
    """Round 0 of each server is the warm-up and is dropped; then rounds 1..N alternate."""
    measured: dict[str, list[Round]] = {name: [] for name in runs}
    for number in range(rounds + 1):
        for name, run in runs.items():
            result = run(number)
            if number:
                measured[name].append(result)
    return measured


@dataclass(frozen=True)
class Summary:
    rps: float
    p50: float
    p99: float
    non2xx: int
    rounds: list[Round]

    def line(self, name: str, unit: str) -> str:
        every = ", ".join(f"{r.rps:.0f}/{r.p99:.1f}{'' if r.latency_possible else '!'}" for r in self.rounds)
        impossible = sum(not r.latency_possible for r in self.rounds)
        note = f"; latencies of {impossible} marked ! impossible, left out" if impossible else ""
        return (f"{name:<12} {self.rps:8.0f} {unit}  p50 {self.p50:6.2f} ms  p99 {self.p99:6.2f} ms  "
                f"non-2xx {self.non2xx}  (rounds, {unit} / p99 ms: {every}{note})")


def summarize(rounds: list[Round]) -> Summary:
    """Medians over the rounds, each figure on its own; latencies over the possible rounds only
    (over all of them if none is)."""
    timed = [r for r in rounds if r.latency_possible] or rounds
    return Summary(
        rps=statistics.median(r.rps for r in rounds),
        p50=statistics.median(r.p50 for r in timed),
        p99=statistics.median(r.p99 for r in timed),
        non2xx=sum(r.non2xx for r in rounds),
        rounds=rounds,
    )
