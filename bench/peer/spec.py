"""A small OpenAPI spec for ``@stripe/sync-engine``'s migrations, made from Stripe's fixtures.

The peer's migrations build its tables from Stripe's OpenAPI spec and download the whole spec
(several MB, from GitHub) unless given ``openApiSpecPath``; this machine has no internet, and a
bench must not depend on it. Its parser only reads ``components.schemas``: a schema with an
``x-resourceId`` becomes a table and its properties become columns (the peer keeps the whole
object in ``_raw_data`` anyway). So one schema per resource of ``fixtures3.json`` (the fixture
file of Stripe's own OpenAPI repository), each fixture field a nullable property of the JSON type
of its value, gives the peer the same tables the real spec would for every object it syncs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "data" / "stripe" / "fixtures3.json"


def _property(value: Any) -> dict[str, Any]:
    """A nullable property of the JSON type of a fixture value (bool before int: a bool is one)."""
    if isinstance(value, bool):
        kind = "boolean"
    elif isinstance(value, int):
        kind = "integer"
    elif isinstance(value, float):
        kind = "number"
    elif isinstance(value, str):
        kind = "string"
    elif isinstance(value, list):
        kind = "array"
    elif isinstance(value, dict):
        kind = "object"
    else:  # null in the fixture: the spec would say more, text is what the peer falls back to
        kind = "string"
    return {"type": kind, "nullable": True}


def build(fixtures: Path = FIXTURES) -> dict[str, Any]:
    """The spec: ``{"openapi", "info", "components": {"schemas": ...}}``."""
    resources = json.loads(fixtures.read_text())["resources"]
    schemas: dict[str, Any] = {}
    for resource_id, fixture in sorted(resources.items()):
        if not isinstance(fixture, dict):
            continue
        schemas[resource_id.replace(".", "_")] = {
            "type": "object",
            "x-resourceId": resource_id,
            "properties": {name: _property(value) for name, value in sorted(fixture.items())},
        }
    return {"openapi": "3.0.0", "info": {"title": "Stripe fixtures (bench)", "version": "fixtures3"},
            "components": {"schemas": schemas}}


def write(path: Path) -> Path:
    path.write_text(json.dumps(build()))
    return path


if __name__ == "__main__":
    import sys

    print(write(Path(sys.argv[1])))
