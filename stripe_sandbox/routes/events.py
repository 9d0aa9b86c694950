"""``/v1/events``: retrieve and list, within the store's retention window."""

from __future__ import annotations

from typing import Any

from ..endpoints import (
    Check,
    Endpoints,
    Request,
    only_one,
)
from ..errors import invalid, missing
from ..params import (
    check_known,
    get_bool,
    get_list,
    get_range,
    get_str,
)

DAY = 86400


class EventRoutes(Endpoints):
    """Events, as Stripe keeps them (30 days unless the store says otherwise)."""

    def add_routes(self) -> None:
        self.route("GET", "/v1/events", self.list_events)
        self.route("GET", "/v1/events/{id}", self.retrieve_event)
        super().add_routes()

    def _oldest_event(self, req: Request) -> int | None:
        days = self.store.event_retention_days
        return None if days is None else req.now - days * DAY

    def retrieve_event(self, req: Request, args: list[str]) -> dict[str, Any]:
        check_known(req.params, "EventRetrieveParams")
        event = self.get(req, "event", args[0])
        oldest = self._oldest_event(req)
        if oldest is not None and event.created < oldest:
            raise missing("event", event.id, "id")
        return self.out(req, event)

    def list_events(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        if "type" in p and "types" in p:
            raise only_one("type", "types", param="types")
        patterns = [str(x) for x in get_list(p, "types")]
        if len(patterns) > 20:
            raise invalid("You may only specify up to 20 event types.", "types")
        one = get_str(p, "type")
        if one:
            patterns = [one]
        get_bool(p, "delivery_success")
        low, high = get_range(p, "created")
        oldest = self._oldest_event(req)
        if oldest is not None:
            low = oldest if low is None else max(low, oldest)
        return self.page(req, "event", "/v1/events", "EventListParams",
                         where=_type_matcher(patterns), created=(low, high))




def _type_matcher(patterns: list[str]) -> Check | None:
    """Stripe's event type filter: exact names, or ``prefix.*`` wildcards."""
    if not patterns:
        return None
    exact = {x for x in patterns if "*" not in x}
    prefixes = tuple(x[:-1] for x in patterns if x.endswith(".*"))
    return lambda e: e.type in exact or (bool(prefixes) and e.type.startswith(prefixes))
