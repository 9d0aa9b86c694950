"""Stripe's balance and reporting endpoints: balance transactions, report types, report runs and
the files they produce (``/v1/files/{id}/contents`` answers the CSV itself, not JSON)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import records as r
from . import reporting
from .endpoints import Check, Endpoints, Raw, Request, all_of, equal
from .errors import StripeError, invalid, missing, missing_param
from .params import check_known, get_dict, get_int, get_list, get_str

LIVE_MODE_ONLY = ("This report type can only be run in live mode: a live-mode API key is "
                  "required (sk_live_... or rk_live_...).")


class ReportingRoutes(Endpoints):
    #: finishes report runs; the server sets its knobs (``delay``, ``fail_rate``...)
    reports: reporting.ReportRunner

    def add_routes(self) -> None:
        self.reports = reporting.ReportRunner(self.store)
        add = self.route
        add("GET", "/v1/balance_transactions", self.list_balance_transactions)
        add("GET", "/v1/balance_transactions/{id}",
            self.retrieve("balance_transaction", "BalanceTransactionRetrieveParams"))
        add("GET", "/v1/reporting/report_types", self.list_report_types)
        add("GET", "/v1/reporting/report_types/{id}", self.retrieve_report_type)
        add("POST", "/v1/reporting/report_runs", self.create_report_run)
        add("GET", "/v1/reporting/report_runs", self.list_report_runs)
        add("GET", "/v1/reporting/report_runs/{id}", self.retrieve_report_run)
        add("GET", "/v1/files/{id}", self.retrieve("file", "FileRetrieveParams"))
        add("GET", "/v1/files/{id}/contents", self.file_contents)
        super().add_routes()

    # -- balance ----------------------------------------------------------------------------
    def list_balance_transactions(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        conds: list[Check] = []
        currency = get_str(p, "currency")
        if currency:
            conds.append(lambda x: x.currency == currency.lower())
        if get_str(p, "payout"):
            conds.append(lambda x: False)  # the sandbox makes no payouts
        source, kind = get_str(p, "source"), get_str(p, "type")
        index = ("source", source) if source else ("type", kind) if kind else None
        if source and kind:
            equal(conds, "type", kind)
        return self.page(req, "balance_transaction", "/v1/balance_transactions",
                         "BalanceTransactionListParams", index=index, where=all_of(conds))

    # -- report types -----------------------------------------------------------------------
    def list_report_types(self, req: Request, args: list[str]) -> dict[str, Any]:
        check_known(req.params, "reporting.ReportTypeListParams")
        data = [reporting.report_type(self.store, type_id, req.scope)
                for type_id in reporting.REPORT_TYPES]
        return {"object": "list", "data": data, "has_more": False,
                "url": "/v1/reporting/report_types"}

    def retrieve_report_type(self, req: Request, args: list[str]) -> dict[str, Any]:
        check_known(req.params, "reporting.ReportTypeRetrieveParams")
        if args[0] not in reporting.REPORT_TYPES:
            raise missing("report type", args[0])
        return reporting.report_type(self.store, args[0], req.scope)

    # -- report runs ------------------------------------------------------------------------
    def create_report_run(self, req: Request, args: list[str]) -> dict[str, Any]:
        p = req.params
        check_known(p, "reporting.ReportRunCreateParams")
        type_id = get_str(p, "report_type", required=True) or ""
        if type_id not in reporting.REPORT_TYPES:
            raise invalid(f"Invalid report type: {type_id}", "report_type")
        if not req.scope[0] and not self.reports.allow_test_mode:
            raise StripeError(400, LIVE_MODE_ONLY, param="report_type")
        parameters = self._run_parameters(req, type_id, get_dict(p, "parameters") or {})
        run = r.ReportRun(id=self.store.new_id("frr", req.scope[0]), created=req.now,
                          live=req.scope[0], account=req.scope[1], report_type=type_id,
                          parameters=parameters)
        self.store.insert(run)
        self.reports.start(run)
        return self.out(req, run)

    def _run_parameters(self, req: Request, type_id: str, given: dict[str, Any]
                        ) -> dict[str, Any]:
        known = ("columns", "connected_account", "currency", "interval_end", "interval_start",
                 "payout", "reporting_category", "timezone")
        for name in given:
            if name not in known:
                raise invalid(f"Received unknown parameter: parameters[{name}]",
                              f"parameters[{name}]", "parameter_unknown")
        start = get_int(given, "interval_start")
        end = get_int(given, "interval_end")
        if start is None:
            raise missing_param("parameters[interval_start]")
        if end is None:
            raise missing_param("parameters[interval_end]")
        first, last = reporting.data_available(self.store, req.scope)
        if start >= end:
            raise invalid("parameters[interval_start] must be before parameters[interval_end].",
                          "parameters[interval_start]")
        if start < first:
            raise invalid(f"parameters[interval_start] must be on or after this report type's "
                          f"data_available_start ({first}).", "parameters[interval_start]")
        if end > last:
            raise invalid(f"parameters[interval_end] must be on or before this report type's "
                          f"data_available_end ({last}).", "parameters[interval_end]")
        out: dict[str, Any] = {"interval_end": end, "interval_start": start}
        columns = [str(c) for c in get_list(given, "columns")]
        allowed = set(reporting.REPORT_TYPES[type_id][2])
        for column in columns:
            if column not in allowed:
                raise invalid(f"Invalid column for {type_id}: {column}", "parameters[columns]")
        if columns:
            out["columns"] = columns
        zone = get_str(given, "timezone")
        if zone:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise invalid(f"Invalid timezone: {zone}", "parameters[timezone]") from None
            out["timezone"] = zone
        for name in ("currency", "reporting_category", "payout", "connected_account"):
            value = get_str(given, name)
            if value:
                out[name] = value.lower() if name == "currency" else value
        return out

    def list_report_runs(self, req: Request, args: list[str]) -> dict[str, Any]:
        self.reports.finish_due()
        return self.page(req, "reporting.report_run", "/v1/reporting/report_runs",
                         "reporting.ReportRunListParams")

    def retrieve_report_run(self, req: Request, args: list[str]) -> dict[str, Any]:
        check_known(req.params, "reporting.ReportRunRetrieveParams")
        self.reports.finish_due()
        return self.out(req, self.get(req, "reporting.report_run", args[0]))

    # -- files ------------------------------------------------------------------------------
    def file_contents(self, req: Request, args: list[str]) -> Raw:
        f = self.get(req, "file", args[0])
        return Raw(f.data, "text/csv" if f.type == "csv" else "application/octet-stream")
