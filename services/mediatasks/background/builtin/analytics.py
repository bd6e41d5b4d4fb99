"""``analytics_processing``: aggregations over submitted metric points, with a JSON
report stored as an artifact."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict

from mediatasks.worker import BackgroundTask, RetryPolicy, TaskDefinition, TaskFailed

PERCENTILES = (50, 90, 95, 99)


def percentile(ordered: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (NumPy's default) of sorted values."""
    if not ordered:
        return 0.0
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    count = len(ordered)
    mean = sum(ordered) / count
    variance = sum((v - mean) ** 2 for v in ordered) / count
    summary = {
        "count": count,
        "sum": sum(ordered),
        "mean": mean,
        "min": ordered[0],
        "max": ordered[-1],
        "stddev": math.sqrt(variance),
    }
    for p in PERCENTILES:
        summary[f"p{p}"] = percentile(ordered, p)
    return summary


def _day(timestamp: str) -> str:
    try:
        parsed = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        raise TaskFailed(f"timestamp {timestamp!r} is not ISO 8601", reason="INVALID_INPUT") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC)
    return parsed.date().isoformat()


def aggregate(points: list[dict], group_by: list[str]) -> dict:
    """Per metric name (and per ``day`` / tag in ``group_by``) summaries of the points."""
    by_metric: dict[str, list[float]] = defaultdict(list)
    groups: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for point in points:
        by_metric[point["name"]].append(float(point["value"]))
        for key in group_by:
            if key == "day":
                if "timestamp" not in point:
                    raise TaskFailed("group_by day needs a timestamp on every point", reason="INVALID_INPUT")
                label = _day(point["timestamp"])
            else:
                label = str((point.get("tags") or {}).get(key, ""))
            groups[key][f"{point['name']}|{label}"].append(float(point["value"]))
    report: dict = {"metrics": {name: summarize(values) for name, values in sorted(by_metric.items())}}
    if group_by:
        report["groups"] = {
            key: [
                {"metric": name_label.split("|", 1)[0], key: name_label.split("|", 1)[1], **summarize(values)}
                for name_label, values in sorted(entries.items())
            ]
            for key, entries in groups.items()
        }
    return report


async def process_analytics(task: BackgroundTask) -> dict:
    payload = task.payload
    points = payload["metrics"]
    group_by = list(payload.get("group_by") or [])
    await task.update_progress(10, f"aggregating {len(points)} point(s)")
    report = aggregate(points, group_by)
    report["generated_at"] = dt.datetime.now(dt.UTC).isoformat()
    report["report_name"] = payload.get("report_name") or task.name
    await task.update_progress(80, "writing report")
    artifact = await task.store_artifact(
        json.dumps(report, indent=2).encode(),
        filename=f"{report['report_name']}.json",
        content_type="application/json",
        role="report",
    )
    task.log(f"report {artifact.artifact_id}: {len(report['metrics'])} metric(s)")
    return {
        "metrics": report["metrics"],
        "groups": report.get("groups", {}),
        "report_artifact_id": artifact.artifact_id,
    }


ANALYTICS_PROCESSING = TaskDefinition(
    "analytics_processing",
    process_analytics,
    payload_schema={
        "type": "object",
        "required": ["metrics"],
        "additionalProperties": False,
        "properties": {
            "report_name": {"type": "string", "pattern": "^[A-Za-z0-9_. -]{1,100}$"},
            "group_by": {"type": "array", "items": {"type": "string", "maxLength": 64}, "maxItems": 5},
            "metrics": {
                "type": "array",
                "minItems": 1,
                "maxItems": 100000,
                "items": {
                    "type": "object",
                    "required": ["name", "value"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 200},
                        "value": {"type": "number"},
                        "timestamp": {"type": "string"},
                        "tags": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                },
            },
        },
    },
    priority="low",
    retry=RetryPolicy(max_retries=2, base_delay=60.0),
    description="Aggregate metric points (count, sum, mean, min, max, stddev, percentiles) into a report artifact.",
    builtin=True,
)
