"""The built-in types' own logic: chunking, aggregation, email templates."""

from __future__ import annotations

import pytest
from mediatasks.background.builtin.analytics import aggregate, percentile, summarize
from mediatasks.background.builtin.documents import chunk_text
from mediatasks.background.builtin.email import render
from mediatasks.worker import TaskFailed


def test_chunks_cover_the_document_with_the_asked_overlap() -> None:
    content = " ".join(f"w{n:04d}" for n in range(1000))  # 5 characters a word + spaces
    chunks = chunk_text(content, size=300, overlap=60)
    assert chunks[0].start == 0 and chunks[-1].end == len(content)
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert len(before.text) <= 300
        assert after.start == before.end - 60  # exactly the overlap
        assert content[after.start : before.end] in before.text
    # Cuts fall on spaces: no word is split at a chunk's end.
    assert all(content[c.end : c.end + 1] in ("", " ") for c in chunks)


def test_chunking_a_word_longer_than_a_chunk_still_ends() -> None:
    chunks = chunk_text("x" * 2500, size=1000, overlap=100)
    assert [(c.start, c.end) for c in chunks] == [(0, 1000), (900, 1900), (1800, 2500)]


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (100, 100), (100, -1)])
def test_chunking_refuses_impossible_sizes(size: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_text("some text", size=size, overlap=overlap)


def test_percentiles_interpolate_like_numpy() -> None:
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 50) == 5.5
    assert percentile(values, 90) == pytest.approx(9.1)
    assert percentile([3.0], 99) == 3.0


def test_summary_and_groups_by_day_and_tag() -> None:
    assert summarize([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])["stddev"] == 2.0
    points = [
        {"name": "latency", "value": 10, "timestamp": "2026-11-01T23:30:00-02:00", "tags": {"region": "eu"}},
        {"name": "latency", "value": 30, "timestamp": "2026-11-02T10:00:00Z", "tags": {"region": "us"}},
        {"name": "errors", "value": 1, "timestamp": "2026-11-02T11:00:00Z"},
    ]
    report = aggregate(points, ["day", "region"])
    assert report["metrics"]["latency"]["mean"] == 20 and report["metrics"]["errors"]["count"] == 1
    days = {(g["metric"], g["day"]): g["sum"] for g in report["groups"]["day"]}
    # 23:30 at -02:00 is 01:30 UTC the next day.
    assert days == {("errors", "2026-11-02"): 1, ("latency", "2026-11-02"): 40}
    regions = {(g["metric"], g["region"]) for g in report["groups"]["region"]}
    assert ("latency", "eu") in regions and ("errors", "") in regions


def test_group_by_day_needs_timestamps() -> None:
    with pytest.raises(TaskFailed, match="timestamp"):
        aggregate([{"name": "a", "value": 1}], ["day"])


def test_templates_render_and_name_a_missing_variable() -> None:
    subject, body, html = render({"template": "welcome", "variables": {"name": "Ana", "product": "X"}})
    assert subject == "Welcome, Ana" and "welcome to X" in body and html is None
    subject, body, html = render(
        {"subject": "Hi ${who}", "body": "b", "html": "<p>${who}</p>", "variables": {"who": "Bo"}}
    )
    assert (subject, html) == ("Hi Bo", "<p>Bo</p>")
    with pytest.raises(TaskFailed, match="product"):
        render({"template": "welcome", "variables": {"name": "Ana"}})
