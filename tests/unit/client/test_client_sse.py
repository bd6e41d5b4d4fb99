from __future__ import annotations

from mediatasks.client.sse import iter_events


def test_events_split_on_blank_lines_with_ids_and_comments() -> None:
    lines = [
        ": keep-alive",
        "id: 1",
        "event: task.created",
        'data: {"sequence": 1}',
        "",
        "",
        "id: 2",
        "event: task.progress",
        "data: line one",
        "data: line two",
        "",
        "data: no id given",
        "",
    ]
    events = list(iter_events(lines))
    assert [(e.id, e.event) for e in events] == [("1", "task.created"), ("2", "task.progress"), ("2", "message")]
    assert events[0].json() == {"sequence": 1}
    assert events[1].data == "line one\nline two"


def test_an_unfinished_event_at_the_end_is_not_emitted() -> None:
    assert list(iter_events(["id: 9", "data: cut off"])) == []
