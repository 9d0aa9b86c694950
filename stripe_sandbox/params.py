"""Request parameters: Stripe's bracketed form encoding, and validation that answers like Stripe.

Allowed top-level parameters per endpoint come from the installed SDK's generated
``stripe.params`` classes, so unknown parameters are rejected exactly where Stripe would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

import stripe.params as sdk_params
from stripe._request_options import RequestOptions

from .errors import invalid, missing_param, unknown_param

_KEY = re.compile(r"([^\[\]]+)|\[([^\[\]]*)\]")
_REQUEST_OPTIONS = frozenset(RequestOptions.__annotations__)


def parse_form(text: str) -> dict[str, Any]:
    """``a[b][0][c]=1&expand[]=x`` -> ``{"a": {"b": [{"c": "1"}]}, "expand": ["x"]}``."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        parts = [m.group(1) if m.group(1) is not None else m.group(2) for m in _KEY.finditer(key)]
        if not parts:
            continue
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                if not isinstance(node, dict):
                    break
                node = node.setdefault("\0append", [])
                if last:
                    node.append(value)
                else:
                    node.append({})
                    node = node[-1]
                continue
            if not isinstance(node, dict):
                break
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
    return _listify(root)


def _listify(node: Any) -> Any:
    if isinstance(node, list):
        return [_listify(x) for x in node]
    if not isinstance(node, dict):
        return node
    if "\0append" in node and len(node) == 1:
        return _listify(node["\0append"])
    if node and all(k.isdigit() for k in node):
        return [_listify(node[k]) for k in sorted(node, key=int)]
    return {k: _listify(v) for k, v in node.items()}


@cache
def allowed(class_path: str) -> frozenset[str] | None:
    """Top-level parameter names of an SDK params class such as ``checkout.SessionListParams``."""
    mod: Any = sdk_params
    for part in class_path.split("."):
        mod = getattr(mod, part, None)
        if mod is None:
            return None
    return frozenset(mod.__annotations__) - _REQUEST_OPTIONS


def check_known(params: dict[str, Any], class_path: str, extra: tuple[str, ...] = ()) -> None:
    names = allowed(class_path)
    if names is None:
        return
    for key in params:
        if key not in names and key not in extra:
            raise unknown_param(key)


def get_str(params: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = params.get(name)
    if value is None:
        if required:
            raise missing_param(name)
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {_show(value)}", name, "parameter_invalid_string")
    return value


def get_int(params: dict[str, Any], name: str, required: bool = False,
            minimum: int | None = None, maximum: int | None = None) -> int | None:
    value = params.get(name)
    if value is None:
        if required:
            raise missing_param(name)
        return None
    return to_int(value, name, minimum, maximum)


def to_int(value: Any, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise invalid(f"Invalid integer: {_show(value)}", name, "parameter_invalid_integer")
    try:
        number = int(value)
    except ValueError:
        raise invalid(f"Invalid integer: {value}", name, "parameter_invalid_integer") from None
    if minimum is not None and number < minimum:
        raise invalid(f"This value must be greater than or equal to {minimum}.", name,
                      "parameter_invalid_integer")
    if maximum is not None and number > maximum:
        raise invalid(f"This value must be less than or equal to {maximum}.", name,
                      "parameter_invalid_integer")
    return number


def get_bool(params: dict[str, Any], name: str) -> bool | None:
    value = params.get(name)
    if value is None:
        return None
    if value in ("true", True):
        return True
    if value in ("false", False):
        return False
    raise invalid(f"Invalid boolean: {_show(value)}", name, "parameter_invalid_boolean")


def get_enum(params: dict[str, Any], name: str, choices: tuple[str, ...]) -> str | None:
    value = get_str(params, name)
    if value is not None and value not in choices:
        listed = ", ".join(choices[:-1]) + f", or {choices[-1]}" if len(choices) > 1 else choices[0]
        raise invalid(f"Invalid {name}: must be one of {listed}", name, "parameter_invalid_string")
    return value


def get_dict(params: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = params.get(name)
    if value is None:
        return None
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid(f"Invalid object: {_show(value)}", name, "parameter_invalid_object")
    return value


def get_list(params: dict[str, Any], name: str) -> list[Any]:
    value = params.get(name)
    if value is None or value == "":
        return []
    if isinstance(value, dict):
        raise invalid(f"Invalid array: {name}", name, "parameter_invalid_array")
    return value if isinstance(value, list) else [value]


def get_metadata(params: dict[str, Any], name: str = "metadata") -> dict[str, str] | None:
    value = get_dict(params, name)
    if value is None:
        return None
    for key, val in value.items():
        if not isinstance(val, str):
            raise invalid(f"Invalid string: {_show(val)}", f"{name}[{key}]",
                          "parameter_invalid_string")
    return value


def merge_metadata(old: dict[str, str], update: dict[str, str] | None) -> dict[str, str]:
    """Stripe's metadata update: keys are merged, an empty value deletes a key."""
    if update is None:
        return old
    if not update:
        return {}
    merged = dict(old)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def get_range(params: dict[str, Any], name: str) -> tuple[int | None, int | None]:
    """``created=123`` or ``created[gt|gte|lt|lte]=…`` as an inclusive (low, high) range."""
    value = params.get(name)
    if value is None:
        return None, None
    if isinstance(value, str):
        exact = to_int(value, name)
        return exact, exact
    if not isinstance(value, dict):
        raise invalid(f"Invalid integer: {_show(value)}", name, "parameter_invalid_integer")
    low: int | None = None
    high: int | None = None
    for op, raw in value.items():
        param = f"{name}[{op}]"
        if op not in ("gt", "gte", "lt", "lte"):
            raise unknown_param(param)
        number = to_int(raw, param)
        if op == "gt":
            low = max(low, number + 1) if low is not None else number + 1
        elif op == "gte":
            low = max(low, number) if low is not None else number
        elif op == "lt":
            high = min(high, number - 1) if high is not None else number - 1
        else:
            high = min(high, number) if high is not None else number
    return low, high


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: ..." for k in value) + "}"
    if isinstance(value, list):
        return "[...]"
    return str(value)


def list_of_objects(items: list[Any], param: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The entries of a required list of objects (``line_items``, ``items``), each with the
    name errors give it (``items[0]``)."""
    if not items:
        raise missing_param(param)
    for i, item in enumerate(items):
        where = f"{param}[{i}]"
        if not isinstance(item, dict):
            raise invalid(f"Invalid object: {where}", where, "parameter_invalid_object")
        yield where, item
