"""Prometheus metrics of the sync gateway (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "fieldsync_sync_requests_total",
    "Requests to /sync by endpoint and status",
    ["endpoint", "status"],
)
DOCS_PULLED = Counter("fieldsync_docs_pulled_total", "Documents served to devices (_bulk_get, GET)")
DOCS_PUSHED = Counter("fieldsync_docs_pushed_total", "Documents devices pushed and were stored")
DOCS_REFUSED = Counter(
    "fieldsync_docs_refused_total", "Pushed documents refused, by error", ["error"]
)
OPEN_FEEDS = Gauge("fieldsync_open_feeds", "Change feeds currently open to devices", ["feed"])
LATENCY = Histogram(
    "fieldsync_sync_request_seconds",
    "Time to answer a /sync request (feeds: to first byte)",
    ["endpoint"],
)
ROUTER_FAN_IN_REFUSED = Counter(
    "fieldsync_router_fan_in_refused_total",
    "Revisions in a rep database the router refused to carry into a shared database (security)",
    ["reason"],
)
