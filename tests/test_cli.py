"""The ``indexer`` command as a new user meets it: help, and every user error as one line on
stderr with what to do and its exit status, never a traceback (``indexer.cli``)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from indexer import db, models
from indexer.cli import COMMANDS, cli, installed, load, main
from indexer.ingest import event_store
from tests.conftest import NO_POSTGRES, TEST_DATABASE_URL, engine_url

ROOT = Path(__file__).resolve().parent.parent
INDEXER = str(ROOT / ".venv" / "bin" / "indexer")
KEY = "sk_test_cli"

#: Every command that reads the index, as a user would type it.
INDEX_COMMANDS = [
    ["products"], ["customers", "prod_A"], ["customer", "ann@example.com"], ["events"], ["events", "--failed"], ["events", "retry", "--all"],
    ["worker", "--once"], ["backfill"], ["catch-up"], ["serve", "--port", "1"],
]


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean environment: a well-formed key and an API base nothing answers on."""
    for name in ("DATABASE_URL", "STRIPE_API_KEY", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET", "INDEXER_API_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STRIPE_API_KEY", KEY)
    monkeypatch.setenv("STRIPE_API_BASE", f"http://127.0.0.1:{closed_port()}")
    return monkeypatch


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.strip()


def indexer(*argv: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The installed ``indexer`` script in a process of its own."""
    return subprocess.run([INDEXER, *argv], env={**os.environ, **env}, capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def walk(command: click.Command, path: str = "indexer") -> Iterator[tuple[str, click.Command]]:
    """Every command under ``command``, loading the lazy ones (``list_commands``, ``get_command``)."""
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=path)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{path} {name}"
            yield from walk(sub, f"{path} {name}")


# --- help -----------------------------------------------------------------------------------


def test_top_level_help_names_the_environment_and_the_exit_statuses() -> None:
    done = indexer("--help", env={})
    assert done.returncode == 0
    for name in ("DATABASE_URL", "STRIPE_API_KEY", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET", "INDEXER_API_TOKENS"):
        assert name in done.stdout
    statuses = {line.split()[0] for line in done.stdout.split("Exit status:")[1].splitlines()[1:8]}
    assert statuses == {"0", "1", "2", "3", "4", "5", "130"}
    for command in ("migrate", "serve", "worker", "events", "backfill", "catch-up", "customers", "products", "sandbox"):
        assert f"\n  {command} " in done.stdout


def test_every_command_and_option_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for path, command in walk(cli):
        assert command.help, path
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{path} {param.opts}"
        assert main([*path.split()[1:], "--help"]) == 0
        assert "Usage: " + path in capsys.readouterr().out


def test_defaults_are_shown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "worker", "--help")
    assert code == 0 and "[default: 500]" in out and "[default: 8]" in out
    code, out, _ = run(capsys, "serve", "--help")
    assert code == 0 and "[default: 8000]" in out


def test_mistyped_commands_and_options_are_one_line(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "prodcts")
    assert code == 2 and one_line(err) == "indexer: No such command 'prodcts'. Did you mean 'products'? See `indexer --help`."
    code, _, err = run(capsys, "events", "--faild")
    assert code == 2 and "Did you mean '--failed'?" in one_line(err)
    code, _, err = run(capsys, "customers")
    assert code == 2 and one_line(err) == "indexer customers: Missing argument 'PRODUCT_ID'. See `indexer customers --help`."
    code, _, err = run(capsys, "customers", "prod_A", "--format", "xml")
    assert code == 2 and one_line(err).startswith("indexer customers: --format: 'xml' is not one of")


# --- start-up: a command imports what it needs ---------------------------------------------

#: Libraries that only some commands need: the Stripe SDK and HTTP client (commands that call
#: Stripe), the web app, the PDF library (reports), the sandbox, the migration tool.
HEAVY = ("stripe", "requests", "flask", "werkzeug", "reportlab", "stripe_sandbox", "alembic")


def imported_by(argv: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``indexer ARGV`` in a fresh interpreter; the process and the modules it imported."""
    script = ("import json, sys\nfrom indexer.cli import main\ncode = main(sys.argv[1:])\n"
              "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\nsys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", script, *argv], env={**os.environ, **env}, capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    return done, set(json.loads(done.stderr.splitlines()[-1]))


def test_help_lists_every_command_without_importing_one() -> None:
    done, modules = imported_by(["--help"], {})
    assert done.returncode == 0
    for name in COMMANDS:
        assert f"\n  {name} " in done.stdout
    assert sorted(m for m in modules if m.split(".")[0] in (*HEAVY, "sqlalchemy", "psycopg")) == []
    assert sorted(m for m in modules if m.startswith("indexer.commands.")) == []


def test_products_imports_no_stripe_web_or_pdf_library(engine: Engine) -> None:
    done, modules = imported_by(["products", "--format", "csv"], {"DATABASE_URL": engine_url(engine)})
    assert (done.returncode, done.stdout.splitlines()[:1]) == (0, ["product_id,name,account,livemode,currency,"
                                                                   "customers,purchases,quantity,amount_total,"
                                                                   "amount_refunded"])
    assert sorted(m for m in modules if m.split(".")[0] in HEAVY) == []
    assert "indexer.commands.answers" in modules and "indexer.commands.reports" not in modules


def test_the_help_lines_of_the_registry_are_the_commands_own() -> None:
    """``indexer --help`` prints ``COMMANDS``' lines without loading the commands: they must say
    what each command's own help says, and name it as it is typed."""
    for name, lazy in COMMANDS.items():
        if not installed(name):
            continue
        command = load(name)
        assert (command.name, command.get_short_help_str(10_000)) == (name, lazy.short_help)


# --- bad values: exit 2 before anything is opened -------------------------------------------


@pytest.mark.parametrize(("argv", "option"), [
    (["worker", "--threads", "0"], "--threads"),
    (["worker", "--rate", "0"], "--rate"),
    (["worker", "--batch-size", "-1"], "--batch-size"),
    (["events", "--limit", "-1"], "--limit"),
    (["events", "--limit", "ten"], "--limit"),
    (["serve", "--port", "99999"], "--port"),
    (["backfill", "--concurrency", "0"], "--concurrency"),
    (["backfill", "--rate", "-3"], "--rate"),
    (["backfill", "--since", "2025-02-30"], "--since"),
    (["backfill", "--product", "price_1"], "--product"),
    (["catch-up", "--account", "cus_1"], "--account"),
    (["customers", "prod_A", "--until", "tomorrow"], "--until"),
    (["sandbox", "--port", "99999"], "--port"),
    (["sandbox", "--fail-rate", "1"], "--fail-rate"),
    (["sandbox", "--webhook-url", "http://x", "--webhook-secret", "nope"], "--webhook-secret"),
])
def test_a_bad_value_is_a_usage_error_naming_the_option(
    argv: list[str], option: str, env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("DATABASE_URL", f"postgresql://nobody@127.0.0.1:{closed_port()}/none")  # never reached
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert one_line(err).startswith(f"indexer {argv[0]}: {option}: ")


def test_bad_values_in_a_real_process(tmp_path: Path) -> None:
    database = tmp_path / "index.db"
    started = time.monotonic()
    done = indexer("worker", "--threads", "0", env={"DATABASE_URL": f"sqlite:///{database}"})
    assert (done.returncode, done.stdout) == (2, "")
    assert one_line(done.stderr) == "indexer worker: --threads: expected a whole number of at least 1, got '0'"
    done = indexer("serve", "--port", "99999", env={"DATABASE_URL": f"sqlite:///{database}"})
    assert done.returncode == 2
    assert one_line(done.stderr) == "indexer serve: --port: expected a port number 1-65535, got '99999'"
    assert time.monotonic() - started < 20 and not database.exists()


# --- the database -----------------------------------------------------------------------------


@pytest.mark.parametrize("argv", INDEX_COMMANDS, ids=" ".join)
def test_an_unmigrated_database_says_to_migrate(
    argv: list[str], database_url_engine: Engine, env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    db.ping(database_url_engine)  # the database exists (a SQLite file is made), but holds no schema
    env.setenv("DATABASE_URL", engine_url(database_url_engine))
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert one_line(err) == f"indexer {argv[0]}: the database holds no index yet: run `indexer migrate` first"


def test_a_schema_behind_the_code_says_to_migrate(database_url_engine: Engine, env: Any,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    db.migrate(database_url_engine, "0004_rollups")
    env.setenv("DATABASE_URL", engine_url(database_url_engine))
    code, _, err = run(capsys, "products")
    assert code == 2
    assert one_line(err).startswith("indexer products: the database schema is at 0004_rollups, this version")
    assert err.strip().endswith("run `indexer migrate`")
    assert run(capsys, "migrate")[0] == 0
    assert run(capsys, "products", "--format", "json") == (0, "[]\n", "")


def test_a_schema_newer_than_the_code_says_to_upgrade(engine: Engine, env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with db.transaction(engine) as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    env.setenv("DATABASE_URL", engine_url(engine))
    code, _, err = run(capsys, "events")
    assert code == 2 and "0099_future" in one_line(err) and "upgrade the indexer" in err


@pytest.mark.parametrize("argv", INDEX_COMMANDS, ids=" ".join)
def test_commands_never_create_a_sqlite_file(argv: list[str], tmp_path: Path, env: Any,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    database = tmp_path / "index.db"
    env.setenv("DATABASE_URL", f"sqlite:///{database}")
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert one_line(err) == (f"indexer {argv[0]}: no index at {database}: run `indexer migrate` first "
                             "(or point DATABASE_URL at the index)")
    assert list(tmp_path.iterdir()) == []


def test_migrate_creates_the_sqlite_file(tmp_path: Path, env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'index.db'}")
    code, out, _ = run(capsys, "migrate")
    assert code == 0 and out.startswith("database at revision ")
    assert run(capsys, "events")[0] == 0


def test_migrate_into_a_missing_directory_says_so(tmp_path: Path, env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'nowhere' / 'index.db'}")
    code, _, err = run(capsys, "migrate")
    assert code == 2
    assert one_line(err) == (f"indexer migrate: cannot create {tmp_path / 'nowhere' / 'index.db'}: no directory "
                             f"{tmp_path / 'nowhere'}; create it, or point DATABASE_URL elsewhere")


def test_an_unreachable_database_is_exit_5_not_migrate(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    port = closed_port()
    env.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{port}/index")
    for argv in (["products"], ["events"], ["migrate"]):
        code, _, err = run(capsys, *argv)
        line = one_line(err)
        assert code == 5, line
        assert line.startswith(f"indexer {argv[0]}: database unavailable: ") and f"port {port}" in line
        assert "check DATABASE_URL" in line and "run `indexer migrate`" not in line


@pytest.mark.skipif(not TEST_DATABASE_URL, reason=NO_POSTGRES)
@pytest.mark.parametrize("change", ["database", "role"])
def test_a_missing_database_or_role_is_exit_5_and_says_so(change: str) -> None:
    server = make_url(TEST_DATABASE_URL or "")
    url = server.set(database="indexer_no_such_db") if change == "database" else server.set(username="indexer_no_such_role")
    env = {"DATABASE_URL": url.render_as_string(hide_password=False), "STRIPE_API_KEY": KEY}
    for argv in (["customers", "prod_A"], ["events", "--failed"], ["worker", "--once"]):
        done = indexer(*argv, env=env)
        line = one_line(done.stderr)
        assert done.returncode == 5, line
        assert "does not exist" in line and ("indexer_no_such_db" in line or "indexer_no_such_role" in line)
        assert "migrate" not in line


def test_a_taken_port_stops_serve_with_one_line(engine: Engine, env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv("DATABASE_URL", engine_url(engine))
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, _, err = run(capsys, "serve", "--port", str(port))
    assert code == 2
    assert one_line(err).startswith(f"indexer serve: cannot listen on 127.0.0.1:{port}: ")


# --- settings: checked by the commands that use them, at once ---------------------------------


def test_a_setting_a_command_does_not_use_never_stops_it(engine: Engine, env: Any,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv("DATABASE_URL", engine_url(engine))
    env.setenv("STRIPE_WEBHOOK_SECRET", "not-a-secret")
    env.setenv("STRIPE_API_KEY", "pk_test_wrong_kind")
    env.setenv("STRIPE_API_BASE", "nowhere")
    assert run(capsys, "products", "--format", "json") == (0, "[]\n", "")
    assert run(capsys, "customers", "prod_A")[0] == 3
    assert run(capsys, "events")[0] == 0
    code, _, err = run(capsys, "serve", "--port", "1")
    assert code == 2 and one_line(err) == "indexer serve: STRIPE_WEBHOOK_SECRET must hold whsec_... secrets, comma-separated"


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("STRIPE_API_BASE", "127.0.0.1:12111", "STRIPE_API_BASE must be an address like"),
    ("STRIPE_API_BASE", "api.stripe.com", "STRIPE_API_BASE must be an address like"),
    ("STRIPE_API_KEY", "sk_test_abc\ndef", "STRIPE_API_KEY must be a secret"),
    ("STRIPE_API_KEY", "sk_test_é", "STRIPE_API_KEY must be a secret"),
    ("STRIPE_API_KEY", "pk_test_abc", "STRIPE_API_KEY must be a secret"),
    ("STRIPE_API_KEY", "", "STRIPE_API_KEY is not set"),
])
def test_a_malformed_stripe_setting_is_exit_2_at_once(variable: str, value: str, says: str, engine: Engine,
                                                      env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv("DATABASE_URL", engine_url(engine))
    env.setenv(variable, value)
    for argv in (["customers", "prod_A", "--live"], ["backfill"], ["catch-up"], ["worker", "--once"]):
        started = time.monotonic()
        code, out, err = run(capsys, *argv)
        assert (code, out) == (2, "")
        assert one_line(err).startswith(f"indexer {argv[0]}: {says}")
        assert time.monotonic() - started < 5


def test_stripe_unreachable_is_one_line_naming_the_host_after_a_bounded_wait(tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    done = indexer("customers", "prod_A", "--live",
                   env={"STRIPE_API_KEY": KEY, "STRIPE_API_BASE": base, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    waited = time.monotonic() - started
    assert (done.returncode, done.stdout) == (4, "")
    line = one_line(done.stderr)
    assert line.startswith(f"indexer customers: cannot reach Stripe at {base} (connection refused) after ")
    assert waited < 20


def test_live_opens_no_database_and_logs_no_migration(sandbox: Any, tmp_path: Path) -> None:
    from stripe_sandbox import billing as b

    ctx = b.Ctx(sandbox.store, (False, None))
    course = b.create_product(ctx, "Course")
    price = b.create_price(ctx, course, "usd", 4900)
    session = b.create_session(ctx, "payment", [(price.id, 1, "Course")])
    b.complete_session(ctx, session, email="buyer@example.com", name="Buyer")
    unreachable = f"postgresql://postgres@127.0.0.1:{closed_port()}/index"
    done = indexer("customers", course.id, "--live", "--format", "csv",
                   env={"STRIPE_API_KEY": KEY, "STRIPE_API_BASE": sandbox.url, "DATABASE_URL": unreachable})
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[1].split(",")[2] == "buyer@example.com"


# --- events: counts, more than shown, --failed for cron ------------------------------------


def store_events(engine: Engine, statuses: dict[str, int]) -> None:
    rows = []
    for status, count in statuses.items():
        for n in range(count):
            rows.append({
                "id": f"evt_{status}_{n:03d}", "type": "checkout.session.completed", "api_version": None,
                "created": 1_700_000_000 + len(rows), "livemode": False, "account": "", "object_id": None,
                "payload": "{}", "source": "webhook", "status": status, "attempts": 1 if status == "failed" else 0,
                "last_error": "StripeError: no such session" if status == "failed" else None,
                "available_at": 0, "received_at": 1_700_000_000, "processed_at": None,
            })
    with db.transaction(engine) as conn:
        conn.execute(models.events_t.insert(), rows)


def test_count_events_counts_every_state(engine: Engine) -> None:
    with db.transaction(engine) as conn:
        assert event_store.count_events(conn) == {"pending": 0, "done": 0, "skipped": 0, "failed": 0}
    store_events(engine, {"pending": 2, "done": 5, "failed": 1})
    with db.transaction(engine) as conn:
        assert event_store.count_events(conn) == {"pending": 2, "done": 5, "skipped": 0, "failed": 1}


def test_events_shows_counts_and_what_is_left_out(engine: Engine, env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv("DATABASE_URL", engine_url(engine))
    store_events(engine, {"pending": 3, "done": 60, "skipped": 2})
    code, out, err = run(capsys, "events")
    lines = out.splitlines()
    assert (code, err, len(lines)) == (0, "", 52)
    assert lines[-2] == "showing the newest 50 of 65 events; --limit 65 shows them all"
    assert lines[-1] == "events: 3 pending, 60 done, 2 skipped, 0 failed"
    code, out, _ = run(capsys, "events", "--limit", "100")
    assert code == 0 and len(out.splitlines()) == 66
    code, out, _ = run(capsys, "events", "--failed")
    assert (code, out.splitlines()[0]) == (0, "no failed events")


def test_events_failed_exits_1_when_any_event_failed(engine: Engine, env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv("DATABASE_URL", engine_url(engine))
    store_events(engine, {"done": 3, "failed": 2})
    code, out, _ = run(capsys, "events", "--failed", "--limit", "1")
    assert code == 1
    assert out.splitlines()[0].startswith("evt_failed_001  checkout.session.completed")
    assert "showing the newest 1 of 2 failed events; --limit 2 shows them all" in out
    code, out, err = run(capsys, "events", "--failed", "--format", "json")
    assert code == 1 and [row["id"] for row in json.loads(out)] == ["evt_failed_001", "evt_failed_000"]
    assert "events: 0 pending, 3 done, 0 skipped, 2 failed" in err
    assert run(capsys, "events")[0] == 0  # only --failed is a check
    assert run(capsys, "events", "retry", "--all")[0] == 0
    code, out, _ = run(capsys, "events", "--failed")
    assert code == 0 and out.startswith("no failed events")


def test_events_retry_needs_ids_or_all(engine: Engine, env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv("DATABASE_URL", engine_url(engine))
    store_events(engine, {"failed": 1})
    code, _, err = run(capsys, "events", "retry")
    assert code == 2 and one_line(err) == "indexer events: give failed event ids or --all (not both)"
    code, _, err = run(capsys, "events", "retry", "evt_failed_000", "evt_nope")
    assert code == 3 and one_line(err) == "indexer events: requeued 1 of 2: the others are not failed events"


def test_events_failed_keeps_its_status_when_the_reader_leaves_early(engine: Engine) -> None:
    """``indexer events --failed | head -n 1`` in a cron job: no traceback, and the command's own
    exit status (1 with failed events, 0 without ``--failed``), not a broken pipe's."""
    store_events(engine, {"failed": 1500})  # more than a pipe holds
    for options, status in (("--failed", 1), ("", 0)):
        script = f'"{INDEXER}" events {options} --limit 1500 | head -n 1; exit "${{PIPESTATUS[0]}}"'
        done = subprocess.run(["bash", "-c", script], env={**os.environ, "DATABASE_URL": engine_url(engine)},
                              capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stderr, len(done.stdout.splitlines())) == (status, "", 1)
