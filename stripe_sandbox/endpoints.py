"""What every sandbox endpoint shares: the request, routing, lookups in scope, and list pages.

:class:`Endpoints` knows no HTTP (params in, JSON-ready dict out). The Stripe ``/v1`` handlers
(:mod:`.routes`) and the ``/sandbox/`` test controls (:mod:`.actions`) build on it; the server
(:mod:`.server`) combines them into one ``Api`` and feeds it requests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from . import billing
from . import records as r
from .errors import StripeError, invalid, missing
from .params import check_known, get_int, get_list, get_range, get_str
from .render import Renderer, Version, expand_tree
from .store import Scope, Store

#: the name Stripe uses for each object in "No such ..." messages
KIND_NAMES = {"checkout.session": "checkout.session", "invoiceitem": "invoiceitem"}


class Request:
    """One API call: what was asked, by whom (scope), and at which API version."""

    __slots__ = ("method", "path", "params", "scope", "ver", "request_id", "now")

    def __init__(self, method: str, path: str, params: dict[str, Any], scope: Scope,
                 ver: Version, req_id: str, now: int) -> None:
        self.method = method
        self.path = path
        self.params = params
        self.scope = scope
        self.ver = ver
        self.request_id = req_id
        self.now = now


class Raw:
    """A body that is not JSON (a file's contents), with its ``Content-Type``."""

    __slots__ = ("data", "content_type")

    def __init__(self, data: bytes, content_type: str) -> None:
        self.data = data
        self.content_type = content_type


Handler = Callable[[Request, list[str]], Any]
Check = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    family: str
    handler: Handler


class Endpoints:
    """Routing plus the helpers handlers share; subclasses register routes in ``add_routes``."""

    def __init__(self, store: Store, webhooks: Any = None) -> None:
        self.store = store
        self.webhooks = webhooks
        #: one sender per endpoint made through ``/v1/webhook_endpoints``, by endpoint id
        self.endpoint_senders: dict[str, Any] = {}
        self.render = Renderer(store)
        self.routes: list[Route] = []
        self.add_routes()

    def add_routes(self) -> None:
        """Cooperative: each subclass adds its routes, then calls ``super().add_routes()``."""

    # -- routing ----------------------------------------------------------------------------
    def route(self, method: str, template: str, handler: Handler) -> None:
        pattern = re.compile("^" + re.sub(r"\{\w+\}", "([^/]+)", template) + "$")
        self.routes.append(Route(method, pattern, template, handler))

    def resource(self, path: str, kind: str, retrieve_params: str, *,
                 create: Handler | None = None, listing: Handler | None = None,
                 update: Handler | None = None, delete: Handler | None = None) -> None:
        """The routes of one object kind: ``path`` to create and list, ``path/{id}`` to
        retrieve (always), update and delete."""
        one = path + "/{id}"
        for method, template, handler in (
                ("POST", path, create), ("GET", path, listing),
                ("GET", one, self.retrieve(kind, retrieve_params)), ("POST", one, update),
                ("DELETE", one, delete)):
            if handler is not None:
                self.route(method, template, handler)

    def match(self, method: str, path: str) -> tuple[Route | None, list[str], bool]:
        """The route for a request, its path arguments, and whether the path exists at all."""
        path_known = False
        for rt in self.routes:
            m = rt.pattern.match(path)
            if m is None:
                continue
            path_known = True
            if rt.method == method:
                return rt, [unquote(g) for g in m.groups()], True
        return None, [], path_known

    # -- one object -------------------------------------------------------------------------
    def ctx(self, req: Request, scope: Scope | None = None) -> billing.Ctx:
        return billing.Ctx(self.store, scope or req.scope, req.now, req.request_id)

    def get(self, req: Request, kind: str, obj_id: str | None, param: str = "id",
            status: int = 404) -> Any:
        """A record of ``kind`` in the request's scope, or Stripe's "No such ..." error."""
        name = KIND_NAMES.get(kind, kind)
        if obj_id is None:
            raise missing(name, "", param, status)
        rec = self.store.collections[kind].get(obj_id)
        if rec is None or (rec.live, rec.account) != req.scope:
            if rec is not None and rec.account == req.scope[1]:
                mode, other = ("live", "test") if req.scope[0] else ("test", "live")
                raise StripeError(
                    status, f"No such {name}: '{obj_id}'; a similar object exists in {other} "
                    f"mode, but a {mode} mode key was used to make this request.",
                    code="resource_missing", param=param)
            raise missing(name, obj_id, param, status)
        return rec

    def out(self, req: Request, rec: r.Record) -> dict[str, Any]:
        return self.render.render(rec, req.ver, expand_param(req.params) or None)

    def retrieve(self, kind: str, params_class: str) -> Handler:
        def handler(req: Request, args: list[str]) -> dict[str, Any]:
            check_known(req.params, params_class)
            return self.out(req, self.get(req, kind, args[0]))
        return handler

    # -- lists ------------------------------------------------------------------------------
    def page(self, req: Request, kind: str, url: str, params_class: str, *,
             index: tuple[str, str] | None = None, where: Check | None = None,
             created: tuple[int | None, int | None] | None = None,
             extra: tuple[str, ...] = ()) -> dict[str, Any]:
        """One page of a reverse-chronological list, with Stripe's cursor and expand rules."""
        params = req.params
        check_known(params, params_class, extra)
        limit, after_id, before_id = _cursors(params)
        after = self._cursor(req, kind, after_id, "starting_after")
        before = self._cursor(req, kind, before_id, "ending_before")
        if created is None:
            created = get_range(params, "created")
        tree = expand_param(params)
        found, has_more = self.store.page(
            kind, req.scope, limit=limit, index=index, created=created, starting_after=after,
            ending_before=before, where=where)
        return self._envelope(req, [self.render.render(x, req.ver) for x in found], has_more,
                              url, tree)

    def filtered_page(self, req: Request, kind: str, url: str, params_class: str,
                      filters: Iterable[tuple[str, Any]] = (), checks: Iterable[Check] = ()) -> dict[str, Any]:
        """``page`` of the records equal to every one of ``filters`` (``given``'s; the first picks
        the store's index to walk, the others are checked) and passing every one of ``checks``."""
        index, conds = index_and_checks(list(filters))
        return self.page(req, kind, url, params_class, index=index, where=all_of([*conds, *checks]))

    def _cursor(self, req: Request, kind: str, obj_id: str | None, param: str) -> Any:
        if obj_id is None:
            return None
        return self.get(req, kind, obj_id, param, status=400)

    def child_page(self, req: Request, ids: list[str], build: Callable[[int], dict[str, Any]],
                   url: str, params_class: str) -> dict[str, Any]:
        """A list of line items or invoice lines: creation order, cursors by child id."""
        params = req.params
        check_known(params, params_class)
        limit, after_id, before_id = _cursors(params)
        positions = {x: i for i, x in enumerate(ids)}
        for cursor, param in ((after_id, "starting_after"), (before_id, "ending_before")):
            if cursor is not None and cursor not in positions:
                raise invalid(f"Invalid {param}: no such object: '{cursor}'", param)
        if before_id is not None:
            end = positions[before_id]
            start = max(0, end - limit)
            has_more = start > 0
        else:
            start = positions[after_id] + 1 if after_id is not None else 0
            end = min(len(ids), start + limit)
            has_more = end < len(ids)
        data = [build(i) for i in range(start, end)]
        return self._envelope(req, data, has_more, url, expand_param(params))

    def _envelope(self, req: Request, data: list[dict[str, Any]], has_more: bool, url: str,
                  tree: dict[str, Any]) -> dict[str, Any]:
        envelope = {"object": "list", "data": data, "has_more": has_more, "url": url}
        if tree:
            self.render.expand(envelope, "list", tree, req.ver)
        return envelope


def expand_param(params: dict[str, Any]) -> dict[str, Any]:
    """The request's ``expand[]`` as a tree (empty when there is none)."""
    return expand_tree([str(x) for x in get_list(params, "expand")])


def only_one(*names: str, param: str) -> StripeError:
    """Stripe's error for mutually exclusive parameters (``param`` is the one it blames)."""
    return invalid(f"You may only specify one of these parameters: {', '.join(names)}.", param)


def _cursors(params: dict[str, Any]) -> tuple[int, str | None, str | None]:
    """``limit``, ``starting_after`` and ``ending_before``, of which only one cursor may be set."""
    limit = get_int(params, "limit", minimum=1, maximum=100) or 10
    after_id = get_str(params, "starting_after") or None
    before_id = get_str(params, "ending_before") or None
    if after_id and before_id:
        raise only_one("ending_before", "starting_after", param="ending_before")
    return limit, after_id, before_id


def given(*filters: tuple[str, Any]) -> list[tuple[str, Any]]:
    """The equality filters that were given (a ``None`` or empty value was not)."""
    return [(name, value) for name, value in filters if value]


def index_and_checks(filters: list[tuple[str, Any]]) -> tuple[tuple[str, Any] | None, list[Check]]:
    """Equality filters as ``Store.page`` takes them: the first picks the index to walk, the
    others become checks on each record found there."""
    if not filters:
        return None, []
    return filters[0], [(lambda x, n=n, v=v: getattr(x, n) == v) for n, v in filters[1:]]


def equal(conds: list[Check], attr: str, value: Any) -> None:
    """Adds a check ``record.attr == value`` unless ``value`` is ``None`` (not asked for)."""
    if value is not None:
        conds.append(lambda x: getattr(x, attr) == value)


def all_of(conds: Iterable[Check]) -> Check | None:
    conds = list(conds)
    if not conds:
        return None
    if len(conds) == 1:
        return conds[0]
    return lambda x: all(c(x) for c in conds)


def within(value: int, bounds: tuple[int | None, int | None]) -> bool:
    low, high = bounds
    return (low is None or value >= low) and (high is None or value <= high)
