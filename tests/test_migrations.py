"""Each migration is a frozen snapshot: it neither imports nor reads another migration, and the
SQL files it runs are its own and ship with the package (a missing one breaks ``indexer migrate``
only once installed)."""

from __future__ import annotations

import ast
import glob
import tomllib
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import Engine

import migrations
from indexer import db
from migrations import sqlfiles
from tests.conftest import alembic

REPO = Path(__file__).resolve().parent.parent
MODULES = sorted(p for p in (REPO / "migrations" / "versions").glob("*.py") if p.name != "__init__.py")
#: Imports that would let a migration load another one (or any module by name).
FORBIDDEN_IMPORTS = ("importlib", "runpy", "migrations.versions")
#: Calls that read files or code: a migration reads its SQL through ``sqlfiles.run`` only.
FORBIDDEN_CALLS = ("__import__", "exec", "eval", "open", "read_text", "read_bytes", "import_module")


def _called(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _problems(module: Path) -> list[str]:
    problems = []
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                problems.append(f"line {node.lineno}: relative import")
            names = [node.module or "", *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Call):
            called = _called(node)
            if called in FORBIDDEN_CALLS:
                problems.append(f"line {node.lineno}: calls {called}")
            is_run = isinstance(node.func, ast.Attribute) and ast.unparse(node.func) == "sqlfiles.run"
            if is_run and not (node.args and ast.unparse(node.args[0]) == "__file__"):
                problems.append(f"line {node.lineno}: sqlfiles.run not given this module's __file__")
        for name in names:
            if any(name == bad or name.startswith(f"{bad}.") for bad in FORBIDDEN_IMPORTS):
                problems.append(f"line {node.lineno}: imports {name}")
    return problems


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.stem)
def test_a_migration_neither_imports_nor_reads_another(module: Path) -> None:
    assert _problems(module) == []


def test_the_check_catches_a_migration_loading_another(tmp_path: Path) -> None:
    module = tmp_path / "0009_bad.py"
    module.write_text(
        "import importlib\nfrom migrations.versions import x\n"
        "old = importlib.import_module('migrations.versions.0004_rollups')\n"
        "text = (Path(__file__).parent / '0004_rollups.py').read_text()\n"
        "sqlfiles.run(other.__file__, 'upgrade.sql')\n"
    )
    assert {problem.split(":")[0] for problem in _problems(module)} == {f"line {n}" for n in range(1, 6)}


def _shipped() -> set[str]:
    """The files of package ``migrations`` that pyproject.toml's package data puts in the wheel."""
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = [*package_data.get("*", []), *package_data.get("migrations", [])]
    root = REPO / "migrations"
    return {name for pattern in patterns for name in glob.glob(pattern, root_dir=root, recursive=True)}


def _sql_files() -> set[str]:
    return {str(p.relative_to(REPO / "migrations")) for p in (REPO / "migrations").rglob("*.sql")}


def test_every_sql_file_ships_in_package_data_and_belongs_to_a_migration() -> None:
    assert _sql_files()
    assert _sql_files() <= _shipped()
    owners = {Path(name).parent.name for name in _sql_files()}
    assert owners <= {module.stem for module in MODULES}


def test_migrations_read_exactly_their_own_sql_files_for_the_database(
    database_url_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Up, down to nothing and up again: every file read ships, and every file for this database
    (``<name>.<dialect>.sql``, or ``<name>.sql`` for both) is read."""
    read: set[str] = set()
    statements = sqlfiles.statements

    def recording(file: Path) -> list[str]:
        read.add(str(file.relative_to(Path(migrations.__file__).parent)))
        return statements(file)

    monkeypatch.setattr(sqlfiles, "statements", recording)
    db.migrate(database_url_engine)
    alembic(database_url_engine, "downgrade", "base")
    alembic(database_url_engine, "upgrade", "head")
    dialect = database_url_engine.dialect.name
    mine = {name for name in _sql_files() if len(Path(name).suffixes) == 1 or Path(name).suffixes[0] == f".{dialect}"}
    assert read == mine
    assert read <= _shipped()


def test_a_statement_ends_at_a_line_holding_only_a_semicolon(tmp_path: Path) -> None:
    sql = tmp_path / "upgrade.sql"
    sql.write_text(
        "-- the file's header\n\n-- the first statement's comment\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n"
        "    DELETE FROM b; -- a body holds ';'\n    INSERT INTO b VALUES (1);\nEND\n;\n\nDROP VIEW v\n;\n"
    )
    assert sqlfiles.statements(sql) == [
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n    DELETE FROM b; -- a body holds ';'\n"
        "    INSERT INTO b VALUES (1);\nEND",
        "DROP VIEW v",
    ]
    sql.write_text("DROP VIEW v\n;\nDROP VIEW w;\n")
    with pytest.raises(ValueError, match="does not end"):
        sqlfiles.statements(sql)


def test_the_migrations_are_one_line_ending_at_the_newest() -> None:
    """One head (no two migrations revise the same one), and it is the last module by name."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config(str(resources.files("migrations").joinpath("alembic.ini")))
    cfg.set_main_option("script_location", str(resources.files("migrations")))
    script = ScriptDirectory.from_config(cfg)
    assert script.get_heads() == [MODULES[-1].stem]
    assert len(list(script.walk_revisions())) == len(MODULES)
    assert {(revision.revision, Path(revision.path).stem) for revision in script.walk_revisions()} == {
        (module.stem, module.stem) for module in MODULES}
    assert db.newest_revision() == MODULES[-1].stem  # how the commands check a schema without Alembic
