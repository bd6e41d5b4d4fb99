"""The Grafana dashboard only queries metrics the services really export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mediatasks.core.metrics  # noqa: F401  (registers every metric)
from prometheus_client import REGISTRY

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "mediatasks-dashboard.json"


def exported_names() -> set[str]:
    names = set()
    for collector in list(REGISTRY._collector_to_names):
        for metric in collector.describe() if hasattr(collector, "describe") else []:
            names.add(metric.name)
            for suffix in ("_total", "_bucket", "_sum", "_count", "_created"):
                names.add(metric.name + suffix)
    return names


def test_every_dashboard_query_uses_exported_metrics():
    dashboard = json.loads(DASHBOARD.read_text())
    exported = exported_names()
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= set(re.findall(r"mediatasks_[a-z_]+", target["expr"]))
    assert used, "the dashboard has no queries"
    assert used <= exported, f"not exported: {sorted(used - exported)}"
    assert {
        "mediatasks_queue_depth",
        "mediatasks_task_transitions_total",
        "mediatasks_provider_cost_usd_total",
        "mediatasks_webhook_deliveries_total",
        "mediatasks_job_duration_seconds_bucket",
    } <= used
