"""Validate raw Stripe JSON against the field schema of the installed stripe-python SDK.

stripe-python's resource classes are generated from Stripe's OpenAPI spec: their class-level
annotations list every field of an object with its type.  This module turns those annotations into
a small type tree and checks a decoded JSON document (a ``dict`` exactly as sent over the wire)
against it.  ``validate`` never raises for bad data; it returns human-readable problems, one string
each, prefixed with the JSON path where they were found.  An empty list means "conforms".

How SDK annotations are read
----------------------------
``int``/``str``/``bool``/``float``
    JSON numbers/strings/booleans.  ``bool`` is not accepted where ``int`` is declared.
``Decimal``
    a *decimal string* on the wire (``"1000"``, ``"12.5"``); the SDK decodes it (``_field_encodings``).
``Optional[X]``
    nullable: ``null`` or ``X``.  Nullable does NOT mean "may be absent" (see the absence rule).
``ExpandableField["X"]`` (``Union[str, X]``)
    an id string, or the expanded object validated against ``X``.
``Union[Literal[...], str]``
    an open enum.  By default the value must still be one of the literals (a fake that invents an
    enum value is drifting); pass ``strict_enums=False`` to accept any string.
``Literal["x"]``
    a closed literal, e.g. the ``object`` discriminator: must match exactly.
``List[X]``, ``ListObject["X"]``, ``SearchResultObject["X"]``
    a JSON array; a ``{"object": "list", "data": [...], "has_more", "url"}`` envelope (items
    validated); a ``search_result`` envelope.
``Dict[str, X]`` / ``UntypedStripeObject[X]``
    a JSON object whose values are ``X`` (metadata, ``currency_options``...).
nested ``StripeObject`` subclasses
    validated recursively, with their own field lists.

Forward references (``"Price"``, ``"DiscountResource"``) name classes imported under
``if TYPE_CHECKING:`` in the declaring module; they are resolved by reading those imports with
``ast`` and importing the named classes for real.

The absence rule
----------------
stripe-python types a field ``Optional[...]`` both when it is nullable and when Stripe may leave
it out, so the SDK alone cannot say which fields may be missing.  The rule used here:

* a declared field must be present (``null`` allowed only if nullable) unless
* it is *includable*: left out unless requested with ``expand[]`` (``INCLUDABLE``:
  ``Session.line_items``, ``PaymentLink.line_items``, ``Invoice.payments``, ``Charge.refunds``...), or
* Stripe's OpenAPI spec does not list it as ``required`` (a generated table taken from
  stripe-node, which keeps that distinction as ``name?: T``; see ``_SPEC_OPTIONAL`` at the end of
  this file), e.g. ``InvoicePayment.payment.charge``, present only when ``payment.type ==
  "charge"``; or ``total_details.breakdown``; or
* it is ``deleted``, the marker only deleted-object stubs carry.

Conversely, a field that the spec makes non-required *and* non-nullable is omitted by Stripe,
never sent as ``null``; ``null`` there is reported (``strict_nulls``).  Keys have the form
``"<object>:<Nested.Path.>field"`` (``field_key``).  A caller may widen the allow-list for one
call with ``absent_ok=`` (used for error bodies, whose fields are all optional on the wire).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, ForwardRef, Union

import stripe
from stripe._error_object import ErrorObject
from stripe._list_object import ListObject
from stripe._object_classes import OBJECT_CLASSES
from stripe._search_result_object import SearchResultObject
from stripe._stripe_object import StripeObject, UntypedStripeObject

__all__ = [
    "INCLUDABLE",
    "OBJECT_TO_CLASS",
    "absence_reason",
    "class_for_object",
    "declared_fields",
    "event_object_kind",
    "field_key",
    "spec_optional",
    "synthesize",
    "validate",
    "validate_error_body",
    "validate_event",
    "validate_list",
    "validate_object",
]

Problems = list[str]

# --------------------------------------------------------------------------------------------
# type tree
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnyT:
    def describe(self) -> str:
        return "any"


@dataclass(frozen=True)
class PrimT:
    kind: str  # "int" | "str" | "bool" | "float" | "decimal"

    def describe(self) -> str:
        return "decimal string" if self.kind == "decimal" else self.kind


@dataclass(frozen=True)
class LiteralT:
    values: tuple[Any, ...]
    open: bool  # Union[Literal[...], str]

    def describe(self) -> str:
        return ("enum " if self.open else "literal ") + "|".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class NullableT:
    inner: TypeNode

    def describe(self) -> str:
        return f"{self.inner.describe()} or null"


@dataclass(frozen=True)
class ClassT:
    cls: type

    def describe(self) -> str:
        return f"object {class_label(self.cls)}"


@dataclass(frozen=True)
class ExpandableT:
    target: TypeNode  # normally ClassT

    def describe(self) -> str:
        return f"id string or expanded {self.target.describe()}"


@dataclass(frozen=True)
class ListT:
    item: TypeNode

    def describe(self) -> str:
        return f"array of {self.item.describe()}"


@dataclass(frozen=True)
class MapT:
    value: TypeNode

    def describe(self) -> str:
        return f"map of {self.value.describe()}"


@dataclass(frozen=True)
class EnvelopeT:
    kind: str  # "list" | "search_result"
    item: TypeNode

    def describe(self) -> str:
        return f"{self.kind} of {self.item.describe()}"


@dataclass(frozen=True)
class UnionT:
    options: tuple[TypeNode, ...]

    def describe(self) -> str:
        return " | ".join(o.describe() for o in self.options)


TypeNode = (
    AnyT | PrimT | LiteralT | NullableT | ClassT | ExpandableT | ListT | MapT | EnvelopeT | UnionT
)


@dataclass(frozen=True)
class FieldSpec:
    name: str  # the JSON name
    type: TypeNode


def class_label(cls: type) -> str:
    return cls.__qualname__


# --------------------------------------------------------------------------------------------
# resolving SDK annotations
# --------------------------------------------------------------------------------------------


@cache
def _type_checking_imports(module_name: str) -> dict[str, Any]:
    """Names bound under ``if TYPE_CHECKING:`` in ``module_name``, imported for real."""
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return {}
    names: dict[str, Any] = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.If):
            continue
        test = node.test
        label = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        if label != "TYPE_CHECKING":
            continue
        for stmt in node.body:
            if isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.level == 0:
                try:
                    target = importlib.import_module(stmt.module)
                except ImportError:
                    continue
                for alias in stmt.names:
                    value = getattr(target, alias.name, None)
                    if value is None:
                        try:
                            value = importlib.import_module(f"{stmt.module}.{alias.name}")
                        except ImportError:
                            continue
                    names[alias.asname or alias.name] = value
    return names


def _enclosing_classes(cls: type) -> list[type]:
    """``[Outer, Outer.Mid, ..., cls]`` from ``cls.__qualname__``."""
    module = sys.modules[cls.__module__]
    chain: list[type] = []
    current: Any = module
    for part in cls.__qualname__.split("."):
        current = getattr(current, part, None)
        if not isinstance(current, type):
            return [cls]
        chain.append(current)
    return chain


def _resolve_name(name: str, owner: type) -> Any:
    """Resolve a forward-reference string as seen from the class that declared it."""
    tc = _type_checking_imports(owner.__module__)
    if name in tc:  # the generator quotes exactly the TYPE_CHECKING imports
        return tc[name]
    for scope in reversed(_enclosing_classes(owner)):
        if name in vars(scope):
            return vars(scope)[name]
    module_ns = vars(sys.modules[owner.__module__])
    if name in module_ns:
        return module_ns[name]
    # an expression such as "List[Foo]": evaluate it in a merged namespace
    ns: dict[str, Any] = dict(vars(typing))
    ns.update(module_ns)
    ns.update(tc)
    for scope in _enclosing_classes(owner):
        ns.update(vars(scope))
    ns.setdefault("stripe", stripe)
    return eval(name, ns)  # noqa: S307 - annotations of installed, trusted code


_NONE = type(None)


def _convert(ann: Any, owner: type) -> TypeNode:
    if isinstance(ann, str):
        return _convert(_resolve_name(ann, owner), owner)
    if isinstance(ann, ForwardRef):
        return _convert(_resolve_name(ann.__forward_arg__, owner), owner)
    if ann is Any or ann is object:
        return AnyT()
    if ann is bool:
        return PrimT("bool")
    if ann is int:
        return PrimT("int")
    if ann is str:
        return PrimT("str")
    if ann is float:
        return PrimT("float")
    if ann is Decimal:
        return PrimT("decimal")
    if ann is dict:
        return MapT(AnyT())
    if ann is list:
        return ListT(AnyT())

    origin = typing.get_origin(ann)
    args = typing.get_args(ann)

    if origin is typing.Literal:
        return LiteralT(tuple(args), open=False)
    if origin is Union or origin is types.UnionType:
        nullable = _NONE in args
        rest = [a for a in args if a is not _NONE]
        node = _convert_union(rest, owner)
        return NullableT(node) if nullable else node
    if origin in (list, typing.List):  # noqa: UP006
        return ListT(_convert(args[0], owner) if args else AnyT())
    if origin in (dict, typing.Dict, Mapping):  # noqa: UP006
        return MapT(_convert(args[1], owner) if len(args) == 2 else AnyT())
    if isinstance(origin, type):
        if issubclass(origin, ListObject):
            return EnvelopeT("list", _convert(args[0], owner) if args else AnyT())
        if issubclass(origin, SearchResultObject):
            return EnvelopeT("search_result", _convert(args[0], owner) if args else AnyT())
        if issubclass(origin, UntypedStripeObject):
            return MapT(_convert(args[0], owner) if args else AnyT())
    if isinstance(ann, type):
        if issubclass(ann, ListObject):
            return EnvelopeT("list", AnyT())
        if issubclass(ann, SearchResultObject):
            return EnvelopeT("search_result", AnyT())
        if issubclass(ann, UntypedStripeObject) or ann is StripeObject:
            return MapT(AnyT())
        if issubclass(ann, StripeObject):
            return ClassT(ann)
    raise TypeError(f"unsupported annotation {ann!r} on {class_label(owner)}")


def _convert_union(members: list[Any], owner: type) -> TypeNode:
    if len(members) == 1:
        return _convert(members[0], owner)
    literals = [m for m in members if typing.get_origin(m) is typing.Literal]
    if members.count(str) == 1 and literals and len(literals) + 1 == len(members):
        values: tuple[Any, ...] = tuple(v for lit in literals for v in typing.get_args(lit))
        return LiteralT(values, open=True)
    if str in members and len(members) == 2:  # ExpandableField[X] == Union[str, X]
        other = next(m for m in members if m is not str)
        return ExpandableT(_convert(other, owner))
    converted = tuple(_convert(m, owner) for m in members if m is not str)
    if str in members:  # ExpandableField over a union of resources
        return ExpandableT(UnionT(converted))
    return UnionT(converted)


@cache
def declared_fields(cls: type) -> dict[str, FieldSpec]:
    """The JSON fields declared by an SDK class (its own annotations), keyed by JSON name."""
    own = vars(cls).get("__annotations__", {})
    remap: dict[str, str] = dict(getattr(cls, "_field_remappings", {}) or {})
    fields: dict[str, FieldSpec] = {}
    for py_name, ann in own.items():
        if py_name.startswith("_") or py_name == "OBJECT_NAME":
            continue
        if typing.get_origin(ann) is typing.ClassVar or (
            isinstance(ann, str) and ann.startswith(("ClassVar", "typing.ClassVar"))
        ):
            continue
        json_name = remap.get(py_name, py_name)
        fields[json_name] = FieldSpec(json_name, _convert(ann, cls))
    if isinstance(cls, type) and issubclass(cls, ListObject | SearchResultObject):
        kind = "list" if issubclass(cls, ListObject) else "search_result"
        fields["object"] = FieldSpec("object", LiteralT((kind,), open=False))
    return fields


# --------------------------------------------------------------------------------------------
# object -> class
# --------------------------------------------------------------------------------------------


def _load(module: str, name: str) -> type:
    return typing.cast(type, getattr(importlib.import_module(module), name))


class _ObjectClassMap(Mapping[str, type]):
    """``object`` value -> SDK class, backed by stripe-python's own ``OBJECT_CLASSES`` table."""

    def __getitem__(self, key: str) -> type:
        module, name = OBJECT_CLASSES[key]
        return _load(module, name)

    def __iter__(self) -> typing.Iterator[str]:
        return iter(OBJECT_CLASSES)

    def __len__(self) -> int:
        return len(OBJECT_CLASSES)


OBJECT_TO_CLASS: Mapping[str, type] = _ObjectClassMap()


def _legacy_shapes() -> types.ModuleType:
    """The sibling ``legacy_shapes`` module (works whether tests/stripe_sandbox is a package or not)."""
    name = f"{__package__}.legacy_shapes" if __package__ else "legacy_shapes"
    return importlib.import_module(name)


@cache
def _current_counterpart(cls: type) -> type | None:
    """For a class of ``legacy_shapes``, the current SDK class at the same nested path."""
    legacy = _legacy_shapes()
    chain = _enclosing_classes(cls)
    if chain[0].__module__ != legacy.__name__:
        return None
    target = legacy.COUNTERPARTS.get(chain[0].__name__)
    if target is None:
        return None
    module, _, name = target.rpartition(".")
    current: Any = _load(module, name)
    for part in cls.__qualname__.split(".")[1:]:
        current = vars(current).get(part)
        if not isinstance(current, type):
            return None
    return typing.cast(type, current)


def class_for_object(object_value: str) -> type | None:
    try:
        return OBJECT_TO_CLASS[object_value]
    except KeyError:
        return None


# --------------------------------------------------------------------------------------------
# the absence allow-list
# --------------------------------------------------------------------------------------------


def field_key(cls: type, field: str) -> str:
    """``"<object>:<Nested.Path.>field"``, e.g. ``"invoice_payment:Payment.charge"``.

    The root is the ``object`` value of the outermost class (``OBJECT_NAME``), so the key is the
    same for the SDK's classes and the legacy (pre-basil) ones in ``legacy_shapes``.
    """
    chain = _enclosing_classes(cls)
    root = chain[0]
    obj = getattr(root, "OBJECT_NAME", None)
    head = obj if isinstance(obj, str) and obj else root.__qualname__
    nested = cls.__qualname__.split(".")[1:]
    return f"{head}:{'.'.join([*nested, field])}"


#: Includable fields: absent unless requested with ``expand[]`` (stripe-node types them
#: ``field?:``).  Each is also in the spec-derived table below; test_schema.py checks that.
INCLUDABLE: dict[str, str] = {
    "checkout.session:line_items": "expand[]=line_items",
    "payment_link:line_items": "expand[]=line_items",
    "invoice:payments": "expand[]=payments",
    "charge:refunds": "expand[]=refunds",
    "price:currency_options": "expand[]=currency_options",
    "price:tiers": "expand[]=tiers",
    "customer:cash_balance": "expand[]=cash_balance",
    "customer:invoice_credit_balance": "expand[]=invoice_credit_balance",
    "customer:sources": "expand[]=sources",
    "customer:subscriptions": "expand[]=subscriptions",
    "customer:tax": "expand[]=tax",
    "customer:tax_ids": "expand[]=tax_ids",
    "checkout.session:TotalDetails.breakdown": "expand[]=total_details.breakdown",
    "item:discounts": "expand[]=line_items.data.discounts",
    "item:taxes": "expand[]=line_items.data.taxes",
}


def _parse_spec_optional(text: str) -> dict[str, bool]:
    table: dict[str, bool] = {}
    for line in text.strip().splitlines():
        prefix, *fields = line.split()
        for f in fields:
            name = f.rstrip("?")
            table[f"{prefix}{'.' if not prefix.endswith(':') else ''}{name}"] = f.endswith("?")
    return table


def spec_optional() -> dict[str, bool]:
    """Non-required fields: ``key -> may it also be null`` (see ``_SPEC_OPTIONAL`` at the end)."""
    return _SPEC_OPTIONAL_TABLE


def absence_reason(cls: type, name: str, extra: Iterable[str] = ()) -> str | None:
    """Why ``name`` may be missing from an object of class ``cls``; ``None`` if it must be present."""
    key = field_key(cls, name)
    if key in INCLUDABLE:
        return f"includable ({INCLUDABLE[key]})"
    if key in _SPEC_OPTIONAL_TABLE:
        return "not required by Stripe's spec (stripe-node `?:`)"
    if name == "deleted":
        return "deleted-object marker"
    extra_set = set(extra)
    if key in extra_set or f"*:{name}" in extra_set:
        return "caller allow-list"
    return None


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


@dataclass
class _Ctx:
    absent_ok: frozenset[str]
    strict_enums: bool
    strict_nulls: bool
    problems: Problems


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        obj = value.get("object")
        return f"object({obj})" if isinstance(obj, str) else "object"
    return type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check(value: Any, node: TypeNode, path: str, ctx: _Ctx) -> None:
    p = ctx.problems
    where = path or "<root>"
    if isinstance(node, AnyT):
        return
    if isinstance(node, NullableT):
        if value is not None:
            _check(value, node.inner, path, ctx)
        return
    if value is None:
        p.append(f"{where}: null, but the field is not nullable (expected {node.describe()})")
        return
    if isinstance(node, PrimT):
        ok = {
            "int": isinstance(value, int) and not isinstance(value, bool),
            "str": isinstance(value, str),
            "bool": isinstance(value, bool),
            "float": isinstance(value, int | float) and not isinstance(value, bool),
        }.get(node.kind)
        if node.kind == "decimal":
            ok = isinstance(value, str) and _is_decimal(value)
        if not ok:
            p.append(
                f"{where}: expected {node.describe()}, got {_json_type(value)} {_short(value)}"
            )
        return
    if isinstance(node, LiteralT):
        if value in node.values and type(value) is type(node.values[0]):
            return
        if node.open and isinstance(value, str):
            if ctx.strict_enums:
                p.append(
                    f"{where}: {value!r} is not one of the SDK's enum values {list(node.values)}"
                )
            return
        p.append(f"{where}: expected {node.describe()}, got {_json_type(value)} {_short(value)}")
        return
    if isinstance(node, ExpandableT):
        if isinstance(value, str):
            if not value:
                p.append(f"{where}: empty id string")
            return
        if isinstance(value, dict):
            _check(value, node.target, path, ctx)
            return
        p.append(f"{where}: expected {node.describe()}, got {_json_type(value)} {_short(value)}")
        return
    if isinstance(node, ListT):
        if not isinstance(value, list):
            p.append(
                f"{where}: expected {node.describe()}, got {_json_type(value)} {_short(value)}"
            )
            return
        for i, item in enumerate(value):
            _check(item, node.item, f"{path}[{i}]", ctx)
        return
    if isinstance(node, MapT):
        if not isinstance(value, dict):
            p.append(
                f"{where}: expected {node.describe()}, got {_json_type(value)} {_short(value)}"
            )
            return
        for k, v in value.items():
            if not isinstance(k, str):
                p.append(f"{where}: non-string key {k!r}")
            _check(v, node.value, f"{path}.{k}" if path else str(k), ctx)
        return
    if isinstance(node, EnvelopeT):
        _check_envelope(value, node, path, ctx)
        return
    if isinstance(node, ClassT):
        _check_class(value, node.cls, path, ctx)
        return
    if isinstance(node, UnionT):
        _check_union(value, node, path, ctx)
        return
    raise AssertionError(node)


def _is_decimal(text: str) -> bool:
    if not re.fullmatch(r"-?\d+(\.\d+)?", text):
        return False
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def _check_envelope(value: Any, node: EnvelopeT, path: str, ctx: _Ctx) -> None:
    p = ctx.problems
    where = path or "<root>"
    if not isinstance(value, dict):
        p.append(f"{where}: expected {node.describe()}, got {_json_type(value)} {_short(value)}")
        return
    required: dict[str, TypeNode] = {
        "object": LiteralT((node.kind,), open=False),
        "data": ListT(node.item),
        "has_more": PrimT("bool"),
        "url": PrimT("str"),
    }
    if node.kind == "search_result":
        required["next_page"] = NullableT(PrimT("str"))
    optional: dict[str, TypeNode] = {}
    if node.kind == "search_result":
        optional["total_count"] = PrimT("int")  # only when expand[]=total_count
    sub = f"{path}." if path else ""
    for name, t in required.items():
        if name not in value:
            p.append(f"{sub}{name}: missing (required on every {node.kind} envelope)")
        else:
            _check(value[name], t, sub + name, ctx)
    for name, t in optional.items():
        if name in value:
            _check(value[name], t, sub + name, ctx)
    for name in value:
        if name not in required and name not in optional:
            p.append(f"{sub}{name}: unknown field on a {node.kind} envelope")
    url = value.get("url")
    if isinstance(url, str) and not url.startswith("/v1/"):
        p.append(f"{sub}url: expected a path starting with '/v1/', got {url!r}")


def _check_union(value: Any, node: UnionT, path: str, ctx: _Ctx) -> None:
    # pick the variant whose `object` literal matches, else the one with fewest problems
    best: Problems | None = None
    for option in node.options:
        trial = _Ctx(ctx.absent_ok, ctx.strict_enums, ctx.strict_nulls, [])
        _check(value, option, path, trial)
        if not trial.problems:
            return
        if best is None or len(trial.problems) < len(best):
            best = trial.problems
    where = path or "<root>"
    ctx.problems.append(f"{where}: matches none of {node.describe()}")
    ctx.problems.extend(best or [])


def _check_class(value: Any, cls: type, path: str, ctx: _Ctx) -> None:
    p = ctx.problems
    where = path or "<root>"
    if not isinstance(value, dict):
        p.append(
            f"{where}: expected object {class_label(cls)}, got {_json_type(value)} {_short(value)}"
        )
        return
    fields = declared_fields(cls)
    sub = f"{path}." if path else ""
    for name, spec in fields.items():
        if name not in value:
            if absence_reason(cls, name, ctx.absent_ok) is None:
                p.append(
                    f"{sub}{name}: missing ({class_label(cls)}.{name} is declared as "
                    f"{spec.type.describe()}; Stripe always returns it)"
                )
            continue
        if value[name] is None and ctx.strict_nulls:
            key = field_key(cls, name)
            if _SPEC_OPTIONAL_TABLE.get(key) is False:
                p.append(
                    f"{sub}{name}: null, but Stripe omits this field instead of sending null "
                    f"(non-required and non-nullable in the spec: stripe-node `{name}?: T`)"
                )
                continue
        _check(value[name], spec.type, sub + name, ctx)
    for name in value:
        if name in fields:
            continue
        current = _current_counterpart(cls)
        if current is not None and name in declared_fields(current):
            key = field_key(cls, name)
            basil = _legacy_shapes().BASIL_FIELDS
            if key not in basil:  # additive field, sent to every API version
                _check(value[name], declared_fields(current)[name].type, sub + name, ctx)
                continue
            p.append(
                f"{sub}{name}: unknown field for a pre-basil {class_label(cls)}: {key} is a "
                f"2025-03-31.basil field ({basil[key]})"
            )
            continue
        p.append(
            f"{sub}{name}: unknown field (not declared on {class_label(cls)}) = {_short(value[name])}"
        )


def _ctx(absent_ok: Iterable[str], strict_enums: bool, strict_nulls: bool) -> _Ctx:
    return _Ctx(frozenset(absent_ok), strict_enums, strict_nulls, [])


def validate(
    obj: Any,
    cls: type,
    *,
    path: str = "",
    absent_ok: Iterable[str] = (),
    strict_enums: bool = True,
    strict_nulls: bool = True,
) -> Problems:
    """Check ``obj`` (decoded JSON) against the SDK class ``cls``; return the problems found.

    ``absent_ok`` adds ``"<object>:<Path.>field"`` keys (or ``"*:field"``) to the absence
    allow-list for this call only.  ``strict_enums=False`` accepts any string for open
    (``Union[Literal, str]``) enums.  ``strict_nulls=False`` accepts ``null`` for fields Stripe
    omits rather than nulls.
    """
    ctx = _ctx(absent_ok, strict_enums, strict_nulls)
    if isinstance(cls, type) and issubclass(cls, ListObject):
        _check(obj, EnvelopeT("list", AnyT()), path, ctx)
    else:
        _check(obj, ClassT(cls), path, ctx)
    return ctx.problems


def validate_list(
    obj: Any,
    item_cls: type | None,
    *,
    path: str = "",
    url: str | None = None,
    item_validator: Callable[[Any, str], Problems] | None = None,
    absent_ok: Iterable[str] = (),
    strict_enums: bool = True,
    strict_nulls: bool = True,
) -> Problems:
    """Check a list envelope, each item against ``item_cls`` (or ``item_validator(item, path)``),
    and, if given, that its ``url`` equals ``url``."""
    ctx = _ctx(absent_ok, strict_enums, strict_nulls)
    item: TypeNode = ClassT(item_cls) if item_cls is not None and item_validator is None else AnyT()
    _check(obj, EnvelopeT("list", item), path, ctx)
    problems = ctx.problems
    if item_validator is not None and isinstance(obj, dict) and isinstance(obj.get("data"), list):
        sub = f"{path}." if path else ""
        for i, it in enumerate(obj["data"]):
            problems.extend(item_validator(it, f"{sub}data[{i}]"))
    if url is not None and isinstance(obj, dict) and obj.get("url") != url:
        problems.append(f"{path or '<root>'}.url: expected {url!r}, got {obj.get('url')!r}")
    return problems


def validate_object(
    obj: Any,
    *,
    path: str = "",
    api_version: str | None = None,
    absent_ok: Iterable[str] = (),
    strict_enums: bool = True,
    strict_nulls: bool = True,
) -> Problems:
    """Validate any object by its ``object`` discriminator.

    Events are validated with ``validate_event`` (their ``data.object`` too); list envelopes item
    by item.  An ``api_version`` older than 2025-03-31.basil selects the legacy (pre-basil) shapes
    of ``invoice``, ``line_item`` and ``checkout.session`` from ``legacy_shapes``.
    """
    opts: dict[str, Any] = {
        "absent_ok": tuple(absent_ok),
        "strict_enums": strict_enums,
        "strict_nulls": strict_nulls,
    }
    where = path or "<root>"
    if not isinstance(obj, dict):
        return [f"{where}: expected an object, got {_json_type(obj)}"]
    kind = obj.get("object")
    if not isinstance(kind, str):
        return [f"{where}.object: missing or not a string: {_short(kind)}"]
    if kind == "event":
        return validate_event(obj, path=path, **opts)
    if kind == "list":
        return validate_list(
            obj,
            None,
            path=path,
            item_validator=lambda it, p: validate_object(
                it, path=p, api_version=api_version, **opts
            ),
            **opts,
        )
    cls = _legacy_shapes().legacy_class_for(kind, api_version) or class_for_object(kind)
    if cls is None:
        return [f"{where}.object: {kind!r} is not an object type known to stripe-python"]
    return validate(obj, cls, path=path, **opts)


def validate_event(
    event: Any,
    *,
    path: str = "",
    absent_ok: Iterable[str] = (),
    strict_enums: bool = True,
    strict_nulls: bool = True,
) -> Problems:
    """Validate an Event, then its ``data.object`` against its own class *in the event's
    ``api_version``*; ``data.previous_attributes`` may only name fields of that object, and the
    object's type must be the one the event type announces."""
    opts: dict[str, Any] = {
        "absent_ok": tuple(absent_ok),
        "strict_enums": strict_enums,
        "strict_nulls": strict_nulls,
    }
    problems = validate(event, stripe.Event, path=path, **opts)
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        return problems
    sub = f"{path}." if path else ""
    version = event.get("api_version")
    data = event["data"]
    inner = data.get("object")
    problems.extend(
        validate_object(
            inner,
            path=f"{sub}data.object",
            api_version=version if isinstance(version, str) else None,
            **opts,
        )
    )
    prev = data.get("previous_attributes")
    if isinstance(prev, dict) and isinstance(inner, dict):
        for name in prev:
            if name not in inner:
                problems.append(
                    f"{sub}data.previous_attributes.{name}: not a field of data.object "
                    f"({inner.get('object')})"
                )
    event_type = event.get("type")
    kind = inner.get("object") if isinstance(inner, dict) else None
    if isinstance(event_type, str) and isinstance(kind, str):
        expected = event_object_kind(event_type)
        if expected is not None and expected != kind:
            problems.append(
                f"{sub}data.object.object: a {event_type!r} event carries a {expected!r}, "
                f"got {kind!r}"
            )
    return problems


#: event type prefix -> ``data.object.object`` (docs.stripe.com event types)
_EVENT_OBJECTS: tuple[tuple[str, str], ...] = (
    ("charge.dispute.", "dispute"),
    ("charge.refund.", "refund"),
    ("charge.", "charge"),
    ("checkout.session.", "checkout.session"),
    ("customer.subscription.", "subscription"),
    ("customer.discount.", "discount"),
    ("customer.source.", "source"),
    ("customer.tax_id.", "tax_id"),
    ("customer.", "customer"),
    ("invoice_payment.", "invoice_payment"),
    ("invoiceitem.", "invoiceitem"),
    ("invoice.", "invoice"),
    ("payment_intent.", "payment_intent"),
    ("payment_link.", "payment_link"),
    ("price.", "price"),
    ("product.", "product"),
    ("refund.", "refund"),
    ("reporting.report_run.", "reporting.report_run"),
    ("reporting.report_type.", "reporting.report_type"),
)


def event_object_kind(event_type: str) -> str | None:
    """The ``object`` of ``data.object`` for an event type, when documented here."""
    for prefix, kind in _EVENT_OBJECTS:
        if event_type.startswith(prefix):
            return kind
    return None


def synthesize(cls: type, *, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A minimal JSON object that ``validate(_, cls)`` accepts: every required field present,
    nullable ones ``null``, spec-optional ones left out, enums set to their first value.

    Used to build well-formed objects (legacy invoices, events...) that tests then mutate.
    ``overrides`` replaces top-level values after synthesis.
    """
    obj = typing.cast(dict[str, Any], _synth(ClassT(cls), 0))
    if overrides:
        obj.update(overrides)
    return obj


def _synth(node: TypeNode, depth: int) -> Any:
    if isinstance(node, NullableT):
        return None
    if isinstance(node, AnyT | MapT):
        return {}
    if isinstance(node, PrimT):
        return {"int": 0, "str": "x", "bool": False, "float": 0.0, "decimal": "0"}[node.kind]
    if isinstance(node, LiteralT):
        return node.values[0]
    if isinstance(node, ExpandableT):
        return "id_x"
    if isinstance(node, ListT):
        return []
    if isinstance(node, EnvelopeT):
        obj: dict[str, Any] = {"object": node.kind, "data": [], "has_more": False, "url": "/v1/x"}
        if node.kind == "search_result":
            obj["next_page"] = None
        return obj
    if isinstance(node, UnionT):
        return _synth(node.options[0], depth)
    if isinstance(node, ClassT):
        if depth > 12:
            raise RecursionError(f"cannot synthesize {class_label(node.cls)}: too deep")
        out: dict[str, Any] = {}
        for name, spec in declared_fields(node.cls).items():
            if absence_reason(node.cls, name) is not None:
                continue
            out[name] = _synth(spec.type, depth + 1)
        return out
    raise AssertionError(node)


#: the error types Stripe documents (docs.stripe.com/api/errors)
ERROR_TYPES = ("api_error", "card_error", "idempotency_error", "invalid_request_error")


def validate_error_body(body: Any, *, path: str = "") -> Problems:
    """Stripe's error envelope: ``{"error": {type, message, code?, param?, doc_url?, ...}}``.

    On the wire every ``ErrorObject`` field except ``type`` is optional (sent only when it
    applies); ``message`` is always sent.  Fields the SDK does not declare are still reported,
    and declared ones are type-checked.
    """
    where = path or "<root>"
    if not isinstance(body, dict):
        return [f"{where}: expected an object, got {_json_type(body)}"]
    problems: Problems = []
    extra = [k for k in body if k != "error"]
    if extra:
        problems.append(f"{where}: unknown top-level fields {extra} next to 'error'")
    err = body.get("error")
    if not isinstance(err, dict):
        return [*problems, f"{where}.error: missing or not an object: {_short(err)}"]
    sub = f"{path}.error" if path else "error"
    optional = [f"*:{f}" for f in declared_fields(ErrorObject) if f != "type"]
    problems.extend(validate(err, ErrorObject, path=sub, absent_ok=optional))
    if err.get("type") not in ERROR_TYPES:
        problems.append(
            f"{sub}.type: expected one of {list(ERROR_TYPES)}, got {_short(err.get('type'))}"
        )
    if not isinstance(err.get("message"), str) or not err.get("message"):
        problems.append(f"{sub}.message: missing or empty")
    return problems


# --------------------------------------------------------------------------------------------
# generated data: fields Stripe's spec does not mark `required`
# --------------------------------------------------------------------------------------------
# Source: stripe-node (github.com/stripe/stripe-node, commit 663942164, 2026-08-19, pinned API
# 2026-07-29.dahlia), src/resources/**/*.ts, the response interfaces generated from Stripe's
# OpenAPI spec.  stripe-python types these `Optional[...]` like nullable fields; stripe-node keeps
# the distinction: `name?: T` (not required, Stripe may omit it) vs `name: T | null` (always
# sent, maybe null).  One line per (object, nested class): "<object>:<Nested.Path> field field?"
# where a trailing `?` means the field may also be null (`name?: T | null`); without it, Stripe
# omits the field rather than sending null.  Only classes reachable from the objects an indexer
# meets are listed (checkout.session, item, payment_link, invoice, line_item, invoice_payment,
# event, price, product, customer, refund, dispute, charge, payment_intent, subscription and what
# they embed or expand to); everything else defaults to "all declared fields required".
# Fields new in 2026-10-28.endive are absent from this table, hence required.
_SPEC_OPTIONAL = """
account: business_profile? business_type? capabilities company controller country created default_currency deleted external_accounts future_requirements groups? individual metadata requirements settings? tos_acceptance
account:BusinessProfile annual_revenue? estimated_worker_count? monthly_estimated_revenue product_description?
account:Capabilities acss_debit_payments affirm_payments afterpay_clearpay_payments alma_payments amazon_pay_payments app_distribution au_becs_debit_payments bacs_debit_payments bancontact_payments bank_transfer_payments billie_payments bizum_payments blik_payments boleto_payments card_issuing card_payments cartes_bancaires_payments cashapp_payments crypto_payments eps_payments fpx_payments gb_bank_transfer_payments giropay_payments grabpay_payments ideal_payments india_international_payments jcb_payments jp_bank_transfer_payments kakao_pay_payments klarna_payments konbini_payments kr_card_payments legacy_payments link_payments mb_way_payments mobilepay_payments multibanco_payments mx_bank_transfer_payments naver_pay_payments nz_bank_account_becs_debit_payments oxxo_payments p24_payments pay_by_bank_payments payco_payments paynow_payments payto_payments pix_payments promptpay_payments revolut_pay_payments samsung_pay_payments satispay_payments scalapay_payments sepa_bank_transfer_payments sepa_debit_payments sofort_payments sunbit_payments swish_payments tax_reporting_us_1099_k tax_reporting_us_1099_misc transfers treasury twint_payments upi_payments us_bank_account_ach_payments us_bank_transfer_payments zip_payments
account:Company address address_kana? address_kanji? administrative_address directors_provided directorship_declaration? executives_provided export_license_id export_purpose_code name? name_kana? name_kanji? owners_provided ownership_declaration? ownership_exemption_reason phone? principal_place_of_business registration_date representative_declaration? structure tax_id_provided tax_id_registrar vat_id_provided verification?
account:Controller fees is_controller losses requirement_collection stripe_dashboard
account:Settings bacs_debit_payments card_issuing invoices payouts sepa_debit_payments treasury
account:Settings.CardIssuing tos_acceptance
account:Settings.CardIssuing.TosAcceptance user_agent
account:Settings.CardPayments decline_on
account:Settings.Payouts.Schedule monthly_anchor monthly_payout_days weekly_anchor weekly_payout_days
account:Settings.SepaDebitPayments creditor_id
account:Settings.Treasury tos_acceptance
account:Settings.Treasury.TosAcceptance user_agent
account:TosAcceptance date? ip? service_agreement user_agent?
application: deleted
application_fee:FeeSource charge payout
bank_account: account? available_payout_methods? customer? default_for_currency? deleted future_requirements? metadata? requirements?
card: account? allow_redisplay? available_payout_methods? currency? customer? default_for_currency? deleted description fingerprint? iin issuer networks status?
charge: authorization_code level3 presentment_details radar_options refunds? transfer
charge:FraudDetails stripe_report user_report
charge:Level3 customer_reference shipping_address_zip shipping_amount shipping_from_zip
charge:Outcome risk_level risk_score rule
charge:PaymentMethodDetails ach_credit_transfer ach_debit acss_debit affirm afterpay_clearpay alipay alma amazon_pay au_becs_debit bacs_debit bancontact billie bizum blik boleto card card_present cashapp crypto customer_balance eps fpx giropay grabpay ideal interac_present kakao_pay klarna konbini kr_card link mb_way mobilepay multibanco naver_pay nz_bank_account oxxo p24 pay_by_bank payco paynow paypal payto pix promptpay revolut_pay samsung_pay satispay scalapay sepa_credit_transfer sepa_debit sofort stripe_account sunbit swish twint upi us_bank_account wechat wechat_pay zip
charge:PaymentMethodDetails.AcssDebit expected_debit_date mandate
charge:PaymentMethodDetails.Affirm location reader
charge:PaymentMethodDetails.Alipay buyer_id
charge:PaymentMethodDetails.Alma installments
charge:PaymentMethodDetails.AmazonPay funding
charge:PaymentMethodDetails.AmazonPay.Funding card
charge:PaymentMethodDetails.AuBecsDebit expected_debit_date mandate
charge:PaymentMethodDetails.BacsDebit expected_debit_date
charge:PaymentMethodDetails.Card capture_before description? extended_authorization fingerprint? iin? incremental_authorization issuer? moto? multicapture network_token? overcapture
charge:PaymentMethodDetails.Card.ThreeDSecure exemption_indicator_applied
charge:PaymentMethodDetails.Card.Wallet amex_express_checkout apple_pay google_pay link masterpass samsung_pay visa_checkout
charge:PaymentMethodDetails.CardPresent capture_before description? iin? issuer? location reader wallet
charge:PaymentMethodDetails.CardPresent.Receipt account_type
charge:PaymentMethodDetails.Crypto buyer_address network token_currency transaction_hash
charge:PaymentMethodDetails.InteracPresent description? iin? issuer? location reader
charge:PaymentMethodDetails.InteracPresent.Receipt account_type
charge:PaymentMethodDetails.Klarna location reader
charge:PaymentMethodDetails.NzBankAccount expected_debit_date
charge:PaymentMethodDetails.Paynow location reader
charge:PaymentMethodDetails.Payto mandate
charge:PaymentMethodDetails.Pix bank_transaction_id? fingerprint? mandate
charge:PaymentMethodDetails.RevolutPay funding
charge:PaymentMethodDetails.RevolutPay.Funding card
charge:PaymentMethodDetails.SepaDebit expected_debit_date
charge:PaymentMethodDetails.Twint mandate
charge:PaymentMethodDetails.UsBankAccount expected_debit_date mandate
charge:PaymentMethodDetails.WechatPay location reader
charge:RadarOptions session
charge:Shipping address carrier? name phone? tracking_number?
checkout.session: branding_settings excluded_payment_method_types line_items name_collection optional_items? phone_number_collection presentment_details redirect_on_completion return_url tax_id_collection
checkout.session:AutomaticTax.Liability account
checkout.session:BrandingSettings.Icon file url
checkout.session:BrandingSettings.Logo file url
checkout.session:CustomField dropdown numeric text
checkout.session:InvoiceCreation.InvoiceData.Issuer account
checkout.session:NameCollection business individual
checkout.session:PaymentMethodOptions acss_debit affirm afterpay_clearpay alipay alma amazon_pay au_becs_debit bacs_debit bancontact billie boleto card cashapp customer_balance eps fpx giropay grabpay ideal kakao_pay klarna konbini kr_card link mobilepay multibanco naver_pay oxxo p24 payco paynow paypal payto pix revolut_pay samsung_pay satispay scalapay sepa_debit sofort sunbit swish twint upi us_bank_account wechat_pay
checkout.session:PaymentMethodOptions.AcssDebit currency mandate_options setup_future_usage target_date verification_method
checkout.session:PaymentMethodOptions.AcssDebit.MandateOptions custom_mandate_url default_for
checkout.session:PaymentMethodOptions.Affirm capture_method setup_future_usage
checkout.session:PaymentMethodOptions.AfterpayClearpay capture_method setup_future_usage
checkout.session:PaymentMethodOptions.Alipay setup_future_usage
checkout.session:PaymentMethodOptions.Alma capture_method
checkout.session:PaymentMethodOptions.AmazonPay capture_method setup_future_usage
checkout.session:PaymentMethodOptions.AuBecsDebit setup_future_usage target_date
checkout.session:PaymentMethodOptions.BacsDebit mandate_options setup_future_usage target_date
checkout.session:PaymentMethodOptions.BacsDebit.MandateOptions reference_prefix
checkout.session:PaymentMethodOptions.Bancontact setup_future_usage
checkout.session:PaymentMethodOptions.Billie capture_method
checkout.session:PaymentMethodOptions.Boleto setup_future_usage
checkout.session:PaymentMethodOptions.Card capture_method installments request_extended_authorization request_incremental_authorization request_multicapture request_overcapture restrictions setup_future_usage statement_descriptor_suffix_kana statement_descriptor_suffix_kanji
checkout.session:PaymentMethodOptions.Card.Installments enabled
checkout.session:PaymentMethodOptions.Card.Restrictions brands_blocked
checkout.session:PaymentMethodOptions.Cashapp capture_method setup_future_usage
checkout.session:PaymentMethodOptions.CustomerBalance bank_transfer setup_future_usage
checkout.session:PaymentMethodOptions.CustomerBalance.BankTransfer eu_bank_transfer requested_address_types
checkout.session:PaymentMethodOptions.Eps setup_future_usage
checkout.session:PaymentMethodOptions.Fpx setup_future_usage
checkout.session:PaymentMethodOptions.Giropay setup_future_usage
checkout.session:PaymentMethodOptions.Grabpay setup_future_usage
checkout.session:PaymentMethodOptions.Ideal setup_future_usage
checkout.session:PaymentMethodOptions.KakaoPay capture_method setup_future_usage
checkout.session:PaymentMethodOptions.Klarna capture_method setup_future_usage
checkout.session:PaymentMethodOptions.Konbini setup_future_usage
checkout.session:PaymentMethodOptions.KrCard capture_method setup_future_usage
checkout.session:PaymentMethodOptions.Link capture_method setup_future_usage
checkout.session:PaymentMethodOptions.Mobilepay capture_method setup_future_usage
checkout.session:PaymentMethodOptions.Multibanco setup_future_usage
checkout.session:PaymentMethodOptions.NaverPay capture_method setup_future_usage
checkout.session:PaymentMethodOptions.Oxxo setup_future_usage
checkout.session:PaymentMethodOptions.P24 setup_future_usage
checkout.session:PaymentMethodOptions.Payco capture_method setup_future_usage
checkout.session:PaymentMethodOptions.Paynow setup_future_usage
checkout.session:PaymentMethodOptions.Paypal capture_method setup_future_usage
checkout.session:PaymentMethodOptions.Payto mandate_options setup_future_usage
checkout.session:PaymentMethodOptions.Pix amount_includes_iof mandate_options setup_future_usage
checkout.session:PaymentMethodOptions.Pix.MandateOptions amount amount_includes_iof amount_type currency end_date payment_schedule reference start_date
checkout.session:PaymentMethodOptions.RevolutPay capture_method setup_future_usage
checkout.session:PaymentMethodOptions.SamsungPay capture_method setup_future_usage
checkout.session:PaymentMethodOptions.Satispay capture_method
checkout.session:PaymentMethodOptions.Scalapay capture_method
checkout.session:PaymentMethodOptions.SepaDebit mandate_options setup_future_usage target_date
checkout.session:PaymentMethodOptions.SepaDebit.MandateOptions reference_prefix
checkout.session:PaymentMethodOptions.Sofort setup_future_usage
checkout.session:PaymentMethodOptions.Sunbit capture_method setup_future_usage
checkout.session:PaymentMethodOptions.Twint setup_future_usage
checkout.session:PaymentMethodOptions.Upi mandate_options setup_future_usage
checkout.session:PaymentMethodOptions.UsBankAccount financial_connections setup_future_usage target_date verification_method
checkout.session:PaymentMethodOptions.UsBankAccount.FinancialConnections filters permissions return_url
checkout.session:PaymentMethodOptions.UsBankAccount.FinancialConnections.Filters account_subcategories
checkout.session:PaymentMethodOptions.WechatPay setup_future_usage
checkout.session:ShippingCost taxes
checkout.session:TotalDetails breakdown
checkout.session:WalletOptions link
checkout.session:WalletOptions.Link display
coupon: applies_to currency_options deleted
customer: address? business_name cash_balance? currency? customer_account? deleted delinquent? discount? individual_name invoice_credit_balance invoice_prefix? name? next_invoice_sequence phone? preferred_locales? sources subscriptions tax tax_exempt? tax_ids test_clock?
customer:Shipping address carrier? name phone? tracking_number?
discount: deleted
dispute: network_reason_code? payment_method_details
dispute:Evidence.EnhancedEvidence mastercard_compliance visa_compelling_evidence_3 visa_compliance
dispute:EvidenceDetails.EnhancedEligibility mastercard_compliance visa_compelling_evidence_3 visa_compliance
dispute:PaymentMethodDetails amazon_pay card klarna paypal
dispute:PaymentMethodDetails.Klarna chargeback_loss_reason_code
event: account context
event:Data previous_attributes
file: links?
invoice: amount_paid_off_stripe auto_advance confirmation_secret? customer_tax_ids? deleted hosted_invoice_url? invoice_pdf? payments threshold_reason
invoice:AutomaticTax.Liability account
invoice:CustomerShipping address carrier? name phone? tracking_number?
invoice:Issuer account
invoice:LastFinalizationError advice_code charge code decline_code doc_url message network_advice_code network_decline_code param payment_intent payment_method payment_method_type request_log_url setup_intent source
invoice:Parent.SubscriptionDetails subscription_proration_date
invoice:PaymentSettings.PaymentMethodOptions.AcssDebit mandate_options verification_method
invoice:PaymentSettings.PaymentMethodOptions.Card installments
invoice:PaymentSettings.PaymentMethodOptions.CustomerBalance bank_transfer
invoice:PaymentSettings.PaymentMethodOptions.CustomerBalance.BankTransfer eu_bank_transfer
invoice:PaymentSettings.PaymentMethodOptions.Payto mandate_options
invoice:PaymentSettings.PaymentMethodOptions.Pix expires_after_seconds
invoice:PaymentSettings.PaymentMethodOptions.Upi mandate_options
invoice:PaymentSettings.PaymentMethodOptions.UsBankAccount financial_connections verification_method
invoice:PaymentSettings.PaymentMethodOptions.UsBankAccount.FinancialConnections filters permissions
invoice:PaymentSettings.PaymentMethodOptions.UsBankAccount.FinancialConnections.Filters account_subcategories
invoice:ShippingCost taxes
invoice:ShippingDetails address carrier? name phone? tracking_number?
invoice:TotalPretaxCreditAmount credit_balance_transaction? discount
invoice_payment:Payment charge payment_intent payment_record
invoiceitem: deleted net_amount proration_details
invoiceitem:Parent.SubscriptionDetails subscription_item
invoiceitem:Pricing price_details
invoiceitem:ProrationDetails.CreditedItems invoice_item invoice_line_item_details
item: discounts taxes
line_item:PretaxCreditAmount credit_balance_transaction? discount
line_item:Pricing price_details
mandate: multi_use on_behalf_of single_use
mandate:CustomerAcceptance offline online
mandate:MultiUse amount currency
mandate:PaymentMethodDetails acss_debit amazon_pay au_becs_debit bacs_debit card cashapp kakao_pay klarna kr_card link naver_pay nz_bank_account paypal payto pix revolut_pay sepa_debit twint upi us_bank_account
mandate:PaymentMethodDetails.AcssDebit default_for
mandate:PaymentMethodDetails.Pix amount_includes_iof amount_type end_date payment_schedule reference start_date
mandate:PaymentMethodDetails.UsBankAccount collection_method
payment_intent: allowed_payment_method_types? amount_details hooks payment_details presentment_details transfer_data?
payment_intent:AmountDetails discount_amount error line_items shipping tax tip
payment_intent:AmountDetails.Tip amount
payment_intent:AutomaticPaymentMethods allow_redirects
payment_intent:Hooks inputs
payment_intent:Hooks.Inputs tax
payment_intent:LastPaymentError advice_code charge code decline_code doc_url message network_advice_code network_decline_code param payment_intent payment_method payment_method_type request_log_url setup_intent source
payment_intent:NextAction alipay_handle_redirect blik_authorize boleto_display_details card_await_notification cashapp_handle_redirect_or_display_qr_code display_bank_transfer_instructions klarna_display_qr_code konbini_display_details multibanco_display_details oxxo_display_details paynow_display_qr_code pix_display_qr_code promptpay_display_qr_code redirect_to_url swish_handle_redirect_or_display_qr_code upi_handle_redirect_or_display_qr_code use_stripe_sdk verify_with_microdeposits wechat_pay_display_qr_code wechat_pay_redirect_to_android_app wechat_pay_redirect_to_ios_app
payment_intent:NextAction.DisplayBankTransferInstructions financial_addresses
payment_intent:NextAction.DisplayBankTransferInstructions.FinancialAddress aba iban sort_code spei supported_networks swift zengin
payment_intent:NextAction.KonbiniDisplayDetails.Stores.Familymart confirmation_number
payment_intent:NextAction.KonbiniDisplayDetails.Stores.Lawson confirmation_number
payment_intent:NextAction.KonbiniDisplayDetails.Stores.Ministop confirmation_number
payment_intent:NextAction.KonbiniDisplayDetails.Stores.Seicomart confirmation_number
payment_intent:NextAction.PixDisplayQrCode data expires_at hosted_instructions_url image_url_png image_url_svg
payment_intent:PaymentMethodOptions acss_debit affirm afterpay_clearpay alipay alma amazon_pay au_becs_debit bacs_debit bancontact billie bizum blik boleto card card_present cashapp crypto customer_balance eps fpx giropay grabpay ideal interac_present kakao_pay klarna konbini kr_card link mb_way mobilepay multibanco naver_pay nz_bank_account oxxo p24 pay_by_bank payco paynow paypal payto pix promptpay revolut_pay samsung_pay satispay scalapay sepa_debit sofort sunbit swish twint upi us_bank_account wechat_pay zip
payment_intent:PaymentMethodOptions.AcssDebit mandate_options setup_future_usage target_date verification_method
payment_intent:PaymentMethodOptions.AcssDebit.MandateOptions custom_mandate_url
payment_intent:PaymentMethodOptions.Affirm capture_method preferred_locale setup_future_usage
payment_intent:PaymentMethodOptions.AfterpayClearpay capture_method setup_future_usage
payment_intent:PaymentMethodOptions.Alipay setup_future_usage
payment_intent:PaymentMethodOptions.Alma capture_method
payment_intent:PaymentMethodOptions.AmazonPay capture_method setup_future_usage
payment_intent:PaymentMethodOptions.AuBecsDebit setup_future_usage target_date
payment_intent:PaymentMethodOptions.BacsDebit mandate_options setup_future_usage target_date
payment_intent:PaymentMethodOptions.BacsDebit.MandateOptions reference_prefix
payment_intent:PaymentMethodOptions.Bancontact setup_future_usage
payment_intent:PaymentMethodOptions.Billie capture_method
payment_intent:PaymentMethodOptions.Blik setup_future_usage
payment_intent:PaymentMethodOptions.Boleto setup_future_usage
payment_intent:PaymentMethodOptions.Card capture_method request_extended_authorization request_incremental_authorization request_multicapture request_overcapture require_cvc_recollection setup_future_usage statement_descriptor_suffix_kana statement_descriptor_suffix_kanji
payment_intent:PaymentMethodOptions.CardPresent capture_method routing
payment_intent:PaymentMethodOptions.Cashapp capture_method setup_future_usage
payment_intent:PaymentMethodOptions.Crypto setup_future_usage
payment_intent:PaymentMethodOptions.CustomerBalance bank_transfer setup_future_usage
payment_intent:PaymentMethodOptions.CustomerBalance.BankTransfer eu_bank_transfer requested_address_types
payment_intent:PaymentMethodOptions.Eps setup_future_usage
payment_intent:PaymentMethodOptions.Fpx setup_future_usage
payment_intent:PaymentMethodOptions.Giropay setup_future_usage
payment_intent:PaymentMethodOptions.Grabpay setup_future_usage
payment_intent:PaymentMethodOptions.Ideal setup_future_usage
payment_intent:PaymentMethodOptions.KakaoPay capture_method setup_future_usage
payment_intent:PaymentMethodOptions.Klarna capture_method setup_future_usage
payment_intent:PaymentMethodOptions.Konbini setup_future_usage
payment_intent:PaymentMethodOptions.KrCard capture_method setup_future_usage
payment_intent:PaymentMethodOptions.Link capture_method setup_future_usage
payment_intent:PaymentMethodOptions.MbWay setup_future_usage
payment_intent:PaymentMethodOptions.Mobilepay capture_method setup_future_usage
payment_intent:PaymentMethodOptions.Multibanco setup_future_usage
payment_intent:PaymentMethodOptions.NaverPay capture_method setup_future_usage
payment_intent:PaymentMethodOptions.NzBankAccount setup_future_usage target_date
payment_intent:PaymentMethodOptions.Oxxo setup_future_usage
payment_intent:PaymentMethodOptions.P24 setup_future_usage
payment_intent:PaymentMethodOptions.Payco capture_method setup_future_usage
payment_intent:PaymentMethodOptions.Paynow setup_future_usage
payment_intent:PaymentMethodOptions.Paypal capture_method setup_future_usage
payment_intent:PaymentMethodOptions.Payto mandate_options setup_future_usage
payment_intent:PaymentMethodOptions.Pix amount_includes_iof mandate_options setup_future_usage
payment_intent:PaymentMethodOptions.Pix.MandateOptions amount amount_includes_iof amount_type currency end_date payment_schedule reference start_date
payment_intent:PaymentMethodOptions.Promptpay setup_future_usage
payment_intent:PaymentMethodOptions.RevolutPay capture_method setup_future_usage
payment_intent:PaymentMethodOptions.SamsungPay capture_method setup_future_usage
payment_intent:PaymentMethodOptions.Satispay capture_method setup_future_usage
payment_intent:PaymentMethodOptions.Scalapay capture_method
payment_intent:PaymentMethodOptions.SepaDebit mandate_options setup_future_usage target_date
payment_intent:PaymentMethodOptions.SepaDebit.MandateOptions reference_prefix
payment_intent:PaymentMethodOptions.Sofort setup_future_usage
payment_intent:PaymentMethodOptions.Sunbit capture_method setup_future_usage
payment_intent:PaymentMethodOptions.Swish setup_future_usage
payment_intent:PaymentMethodOptions.Twint setup_future_usage
payment_intent:PaymentMethodOptions.Upi setup_future_usage
payment_intent:PaymentMethodOptions.UsBankAccount financial_connections mandate_options setup_future_usage target_date transaction_purpose verification_method
payment_intent:PaymentMethodOptions.UsBankAccount.FinancialConnections filters permissions return_url
payment_intent:PaymentMethodOptions.UsBankAccount.FinancialConnections.Filters account_subcategories
payment_intent:PaymentMethodOptions.UsBankAccount.MandateOptions collection_method
payment_intent:PaymentMethodOptions.WechatPay setup_future_usage
payment_intent:PaymentMethodOptions.Zip setup_future_usage
payment_intent:Processing card
payment_intent:Processing.Card customer_notification
payment_intent:Shipping address carrier? name phone? tracking_number?
payment_intent:TransferData amount description metadata payment_data
payment_intent:TransferData.PaymentData description metadata
payment_link: line_items name_collection optional_items?
payment_link:AfterCompletion hosted_confirmation redirect
payment_link:AutomaticTax.Liability account
payment_link:CustomField dropdown numeric text
payment_link:InvoiceCreation.InvoiceData.Issuer account
payment_link:NameCollection business individual
payment_link:SubscriptionData.InvoiceSettings.Issuer account
payment_method: acss_debit affirm afterpay_clearpay alipay allow_redisplay alma amazon_pay au_becs_debit bacs_debit bancontact billie bizum blik boleto card card_present cashapp crypto custom customer_balance eps fpx giropay grabpay ideal interac_present kakao_pay klarna konbini kr_card link mb_way mobilepay multibanco naver_pay nz_bank_account oxxo p24 pay_by_bank payco paynow paypal payto pix promptpay radar_options revolut_pay samsung_pay satispay scalapay sepa_debit sofort sunbit swish twint upi us_bank_account wechat_pay zip
payment_method:Bizum buyer_id?
payment_method:Blik buyer_id?
payment_method:Card description? fingerprint? iin? issuer?
payment_method:Card.GeneratedFrom.PaymentMethodDetails card_present
payment_method:Card.GeneratedFrom.PaymentMethodDetails.CardPresent capture_before description? iin? issuer? location reader wallet
payment_method:Card.GeneratedFrom.PaymentMethodDetails.CardPresent.Receipt account_type
payment_method:Card.Wallet amex_express_checkout apple_pay google_pay link masterpass samsung_pay visa_checkout
payment_method:CardPresent description? iin? issuer? wallet
payment_method:InteracPresent description? iin? issuer?
payment_method:Klarna dob?
payment_method:Link persistent_token
payment_method:Pix fingerprint?
payment_method:RadarOptions session
payment_method:UsBankAccount.StatusDetails blocked
payment_record:PaymentMethodDetails ach_credit_transfer ach_debit acss_debit affirm afterpay_clearpay alipay alma amazon_pay au_becs_debit bacs_debit bancontact billie bizum blik boleto card card_present cashapp crypto custom customer_balance eps fpx giropay grabpay ideal interac_present kakao_pay klarna konbini kr_card link mb_way mobilepay multibanco naver_pay nz_bank_account oxxo p24 pay_by_bank payco paynow paypal payto pix promptpay revolut_pay samsung_pay satispay scalapay sepa_credit_transfer sepa_debit sofort stripe_account sunbit swish twint upi us_bank_account wechat wechat_pay zip
payment_record:PaymentMethodDetails.AcssDebit expected_debit_date mandate
payment_record:PaymentMethodDetails.Affirm location reader
payment_record:PaymentMethodDetails.Alipay buyer_id
payment_record:PaymentMethodDetails.Alma installments
payment_record:PaymentMethodDetails.AmazonPay funding
payment_record:PaymentMethodDetails.AmazonPay.Funding card
payment_record:PaymentMethodDetails.AuBecsDebit expected_debit_date mandate
payment_record:PaymentMethodDetails.BacsDebit expected_debit_date
payment_record:PaymentMethodDetails.Card capture_before description? fingerprint? iin? issuer? moto? network_token?
payment_record:PaymentMethodDetails.Card.Wallet apple_pay dynamic_last4 google_pay
payment_record:PaymentMethodDetails.CardPresent capture_before description? iin? issuer? location reader wallet
payment_record:PaymentMethodDetails.CardPresent.Receipt account_type
payment_record:PaymentMethodDetails.Crypto buyer_address network token_currency transaction_hash
payment_record:PaymentMethodDetails.InteracPresent description? iin? issuer? location reader
payment_record:PaymentMethodDetails.InteracPresent.Receipt account_type
payment_record:PaymentMethodDetails.Klarna location reader
payment_record:PaymentMethodDetails.NzBankAccount expected_debit_date
payment_record:PaymentMethodDetails.Paynow location reader
payment_record:PaymentMethodDetails.Payto mandate
payment_record:PaymentMethodDetails.Pix bank_transaction_id? mandate
payment_record:PaymentMethodDetails.RevolutPay funding
payment_record:PaymentMethodDetails.RevolutPay.Funding card
payment_record:PaymentMethodDetails.SepaDebit expected_debit_date
payment_record:PaymentMethodDetails.Twint mandate
payment_record:PaymentMethodDetails.UsBankAccount expected_debit_date mandate
payment_record:PaymentMethodDetails.WechatPay location reader
payment_record:ProcessorDetails custom
person: additional_tos_acceptances address address_kana? address_kanji? deleted dob email? first_name? first_name_kana? first_name_kanji? full_name_aliases future_requirements? gender? id_number_provided id_number_secondary_provided last_name? last_name_kana? last_name_kanji? maiden_name? metadata nationality? phone? political_exposure registered_address relationship requirements? ssn_last_4_provided us_cfpb_data? verification
person:Verification additional_document? details? details_code? document
plan: deleted tiers
price: currency_options deleted tiers
price:CurrencyOptions tiers
product: default_price? deleted statement_descriptor? tax_code? unit_label?
product:MarketingFeature name
promotion_code:Restrictions currency_options
quote: default_tax_rates line_items
quote:AutomaticTax.Liability account
quote:Computed.Recurring.TotalDetails breakdown
quote:Computed.Upfront line_items
quote:Computed.Upfront.TotalDetails breakdown
quote:InvoiceSettings.Issuer account
quote:SubscriptionData.BillingMode flexible
quote:SubscriptionData.BillingMode.Flexible proration_discounts
quote:TotalDetails breakdown
refund: description destination_details failure_balance_transaction failure_reason instructions_email next_action pending_reason presentment_details
refund:DestinationDetails affirm afterpay_clearpay alipay alma amazon_pay au_bank_transfer blik br_bank_transfer card cashapp crypto customer_cash_balance eps eu_bank_transfer gb_bank_transfer giropay grabpay jp_bank_transfer klarna mb_way multibanco mx_bank_transfer nz_bank_transfer p24 paynow paypal pix revolut scalapay sofort swish th_bank_transfer twint us_bank_transfer wechat_pay zip
refund:DestinationDetails.Card reference reference_status reference_type
refund:NextAction display_details
reporting.report_run:Parameters columns connected_account currency interval_end interval_start payout reporting_category timezone
review: payment_intent
setup_intent: allowed_payment_method_types? attach_to_self customer_account? flow_directions? managed_payments?
setup_intent:AutomaticPaymentMethods allow_redirects
setup_intent:LastSetupError advice_code charge code decline_code doc_url message network_advice_code network_decline_code param payment_intent payment_method payment_method_type request_log_url setup_intent source
setup_intent:NextAction blik_authorize cashapp_handle_redirect_or_display_qr_code pix_display_qr_code redirect_to_url upi_handle_redirect_or_display_qr_code use_stripe_sdk verify_with_microdeposits
setup_intent:PaymentMethodOptions acss_debit amazon_pay bacs_debit bizum card card_present klarna link paypal payto pix sepa_debit upi us_bank_account
setup_intent:PaymentMethodOptions.AcssDebit mandate_options verification_method
setup_intent:PaymentMethodOptions.AcssDebit.MandateOptions custom_mandate_url default_for
setup_intent:PaymentMethodOptions.BacsDebit mandate_options
setup_intent:PaymentMethodOptions.BacsDebit.MandateOptions reference_prefix
setup_intent:PaymentMethodOptions.Payto mandate_options
setup_intent:PaymentMethodOptions.Pix mandate_options
setup_intent:PaymentMethodOptions.Pix.MandateOptions amount amount_includes_iof amount_type currency end_date payment_schedule reference start_date
setup_intent:PaymentMethodOptions.SepaDebit mandate_options
setup_intent:PaymentMethodOptions.SepaDebit.MandateOptions reference_prefix
setup_intent:PaymentMethodOptions.Upi mandate_options
setup_intent:PaymentMethodOptions.UsBankAccount financial_connections mandate_options verification_method
setup_intent:PaymentMethodOptions.UsBankAccount.FinancialConnections filters permissions return_url
setup_intent:PaymentMethodOptions.UsBankAccount.FinancialConnections.Filters account_subcategories
setup_intent:PaymentMethodOptions.UsBankAccount.MandateOptions collection_method
shipping_rate: fixed_amount
shipping_rate:FixedAmount currency_options
source: ach_credit_transfer ach_debit acss_debit alipay au_becs_debit bancontact card card_present code_verification customer eps giropay ideal klarna multibanco p24 receiver redirect sepa_credit_transfer sepa_debit sofort source_order three_d_secure wechat
source:AchCreditTransfer account_number? bank_name? fingerprint? refund_account_holder_name? refund_account_holder_type? refund_routing_number? routing_number? swift_code?
source:AchDebit bank_name? country? fingerprint? last4? routing_number? type?
source:AcssDebit bank_address_city? bank_address_line_1? bank_address_line_2? bank_address_postal_code? bank_name? category? country? fingerprint? last4? routing_number?
source:Alipay data_string? native_url? statement_descriptor?
source:AuBecsDebit bsb_number? fingerprint? last4?
source:Bancontact bank_code? bank_name? bic? iban_last4? preferred_language? statement_descriptor?
source:Card address_line1_check? address_zip_check? brand? country? cvc_check? description dynamic_last4? exp_month? exp_year? fingerprint funding? iin issuer last4? name? three_d_secure tokenization_method?
source:CardPresent application_cryptogram application_preferred_name authorization_code? authorization_response_code brand? country? cvm_type data_type? dedicated_file_name description emv_auth_data evidence_customer_signature? evidence_transaction_certificate? exp_month? exp_year? fingerprint funding? iin issuer last4? pos_device_id? pos_entry_mode read_method? reader? terminal_verification_results transaction_status_information
source:Eps reference? statement_descriptor?
source:Giropay bank_code? bank_name? bic? statement_descriptor?
source:Ideal bank? bic? iban_last4? statement_descriptor?
source:Klarna background_image_url client_token? first_name last_name locale logo_url page_title pay_later_asset_urls_descriptive pay_later_asset_urls_standard pay_later_name pay_later_redirect_url pay_now_asset_urls_descriptive pay_now_asset_urls_standard pay_now_name pay_now_redirect_url pay_over_time_asset_urls_descriptive pay_over_time_asset_urls_standard pay_over_time_name pay_over_time_redirect_url payment_method_categories purchase_country purchase_type redirect_url shipping_delay shipping_first_name shipping_last_name
source:Multibanco entity? reference? refund_account_holder_address_city? refund_account_holder_address_country? refund_account_holder_address_line1? refund_account_holder_address_line2? refund_account_holder_address_postal_code? refund_account_holder_address_state? refund_account_holder_name? refund_iban?
source:P24 reference?
source:SepaCreditTransfer bank_name? bic? iban? refund_account_holder_address_city? refund_account_holder_address_country? refund_account_holder_address_line1? refund_account_holder_address_line2? refund_account_holder_address_postal_code? refund_account_holder_address_state? refund_account_holder_name? refund_iban?
source:SepaDebit bank_code? branch_code? country? fingerprint? last4? mandate_reference? mandate_url?
source:Sofort bank_code? bank_name? bic? country? iban_last4? preferred_language? statement_descriptor?
source:SourceOrder email shipping
source:SourceOrder.Item quantity
source:SourceOrder.Shipping address carrier? name phone? tracking_number?
source:ThreeDSecure address_line1_check? address_zip_check? authenticated? brand? card? country? customer? cvc_check? description dynamic_last4? exp_month? exp_year? fingerprint funding? iin issuer last4? name? three_d_secure tokenization_method?
source:Wechat prepay_id qr_code_url? statement_descriptor
subscription: default_tax_rates? presentment_details
subscription:AutomaticTax.Liability account
subscription:BillingMode updated_at
subscription:BillingMode.Flexible proration_discounts
subscription:InvoiceSettings.Issuer account
subscription:PaymentSettings.PaymentMethodOptions.AcssDebit mandate_options verification_method
subscription:PaymentSettings.PaymentMethodOptions.Card mandate_options
subscription:PaymentSettings.PaymentMethodOptions.CustomerBalance bank_transfer
subscription:PaymentSettings.PaymentMethodOptions.CustomerBalance.BankTransfer eu_bank_transfer
subscription:PaymentSettings.PaymentMethodOptions.Payto mandate_options
subscription:PaymentSettings.PaymentMethodOptions.Pix expires_after_seconds mandate_options
subscription:PaymentSettings.PaymentMethodOptions.Upi mandate_options
subscription:PaymentSettings.PaymentMethodOptions.UsBankAccount financial_connections verification_method
subscription:PaymentSettings.PaymentMethodOptions.UsBankAccount.FinancialConnections filters permissions
subscription:PaymentSettings.PaymentMethodOptions.UsBankAccount.FinancialConnections.Filters account_subcategories
subscription_item: billed_until deleted quantity
tax_id: deleted
tax_id:Owner account application customer
test_helpers.test_clock: deleted
test_helpers.test_clock:StatusDetails advancing
transfer: destination_payment source_type
webhook_endpoint: deleted secret
"""

_SPEC_OPTIONAL_TABLE: dict[str, bool] = _parse_spec_optional(_SPEC_OPTIONAL)
