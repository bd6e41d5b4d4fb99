"""Every Prometheus metric of the project, registered once, and the /metrics endpoint.

Names follow ``mediatasks_<noun>_<unit>``; labels are low-cardinality (service, method,
code, task type, provider, priority, outcome) and never task ids.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

RPC_REQUESTS = Counter("mediatasks_rpc_requests_total", "gRPC calls served", ["service", "method", "code"])
RPC_DURATION = Histogram(
    "mediatasks_rpc_duration_seconds",
    "gRPC call latency",
    ["service", "method"],
    buckets=_LATENCY_BUCKETS,
)
TASK_TRANSITIONS = Counter(
    "mediatasks_task_transitions_total",
    "Tasks entering a status",
    ["task_type", "status", "provider"],
)
JOBS = Counter("mediatasks_jobs_total", "Jobs run by workers", ["task_type", "outcome"])
JOB_DURATION = Histogram(
    "mediatasks_job_duration_seconds", "Wall time of one job attempt", ["task_type"], buckets=_JOB_BUCKETS
)
ARTIFACT_STORE_BYTES = Gauge(
    "mediatasks_artifact_store_bytes", "Bytes the artifact store holds (all artifacts and parts)"
)
UPLOADS_EXPIRED = Counter("mediatasks_uploads_expired_total", "Uploads deleted because no live task used them in time")
QUEUE_DEPTH = Gauge("mediatasks_queue_depth", "Jobs waiting in JetStream", ["task_type", "priority"])
PROVIDER_COST = Counter("mediatasks_provider_cost_usd_total", "What providers charged, in US dollars", ["provider"])
WEBHOOK_DELIVERIES = Counter("mediatasks_webhook_deliveries_total", "Webhook delivery attempts", ["outcome"])
OUTBOX_LAG = Gauge("mediatasks_outbox_lag_seconds", "Age of the oldest unpublished outbox row")
OUTBOX_PUBLISHED = Counter("mediatasks_outbox_published_total", "Outbox rows relayed to JetStream", ["kind"])
OUTBOX_PARKED = Counter(
    "mediatasks_outbox_parked_total", "Outbox rows JetStream refused for good, set aside with their reason", ["kind"]
)
RECONCILED = Counter("mediatasks_reconciled_total", "Stranded tasks the reconciler moved on", ["kind"])
ERRORS = Counter("mediatasks_errors_total", "Errors handled without failing the process", ["component", "reason"])


def serve_metrics(port: int, host: str = "0.0.0.0") -> int:
    """Start the /metrics HTTP endpoint in a thread; returns the bound port (-1: disabled)."""
    if port < 0:
        return -1
    server, _thread = start_http_server(port, addr=host)
    bound = int(server.server_port)
    log.info("metrics on :%d/metrics", bound)
    return bound
