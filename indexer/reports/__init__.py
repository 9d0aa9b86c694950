"""Stripe's itemized balance report: read by its header and enriched with products
(``enrich``), fetched through the Report Runs API (``report_runs``, ``kept``), and turned into
one PDF per product per month (``monthly``, ``pdf``)."""
