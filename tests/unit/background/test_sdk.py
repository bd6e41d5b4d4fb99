"""The worker SDK's declarations, and the registry's checks of what a worker declares."""

from __future__ import annotations

import pytest
from google.protobuf import json_format
from mediatasks.background.convert import status_name, to_background
from mediatasks.background.facade import check_payload, spec_values
from mediatasks.core import topology
from mediatasks.core.errors import MediaTasksError
from mediatasks.v1 import background_pb2, tasks_pb2
from mediatasks.worker import BackgroundTask, RetryPolicy, TaskApp, TaskHandler
from mediatasks.worker.app import plain_json


def test_default_retry_schedule_is_the_seeds() -> None:
    assert RetryPolicy().delays() == [60.0, 120.0, 240.0]
    assert RetryPolicy(max_retries=5, base_delay=1000, max_delay=3000).delays() == [1000, 2000, 3000, 3000, 3000]


@pytest.mark.parametrize(
    "kwargs", [{"max_retries": 10}, {"base_delay": 0}, {"backoff_factor": 0.5}, {"max_delay": float("inf")}]
)
def test_impossible_retry_policies_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def test_decorator_and_class_declare_types_with_their_policies() -> None:
    app = TaskApp()

    @app.task("send_report", schema={"type": "object", "required": ["to"]}, priority="critical")
    async def send_report(task: BackgroundTask) -> dict:
        """Send the weekly report."""
        return {}

    @app.handler
    class Resize(TaskHandler):
        task_type = "resize_batch"
        retry = RetryPolicy(max_retries=1, base_delay=5)

        async def execute(self, task: BackgroundTask) -> dict:
            return {}

    specs = {d.name: d.spec() for d in app.definitions.values()}
    assert specs["send_report"].default_priority == "critical"
    assert specs["send_report"].description == "Send the weekly report."
    assert json_format.MessageToDict(specs["send_report"].payload_schema) == {"type": "object", "required": ["to"]}
    assert specs["resize_batch"].retry.max_retries == 1 and specs["resize_batch"].retry.base_delay_seconds == 5
    assert set(app.job_handlers()) == {"send_report", "resize_batch"}


@pytest.mark.parametrize("name", ["Bad", "x", "has-dash", "image_generation", "a" * 64])
def test_names_that_cannot_be_subjects_or_are_media_types_are_refused(name: str) -> None:
    app = TaskApp()
    with pytest.raises(MediaTasksError):

        @app.task(name)
        async def handler(task: BackgroundTask) -> dict:
            return {}


def test_a_schema_that_is_not_one_is_refused_by_sdk_and_registry() -> None:
    app = TaskApp()
    with pytest.raises(Exception, match="is not valid"):

        @app.task("bad_schema", schema={"type": "no-such-type"})
        async def handler(task: BackgroundTask) -> dict:
            return {}

    spec = background_pb2.TaskTypeSpec(name="bad_schema", default_priority="normal")
    json_format.ParseDict({"type": 5}, spec.payload_schema)
    with pytest.raises(MediaTasksError, match="not a JSON schema"):
        spec_values(spec)


def test_registry_stores_platform_priorities_and_defaults() -> None:
    spec = background_pb2.TaskTypeSpec(name="my_type", default_priority="critical")
    spec.retry.max_retries = 2
    values = spec_values(spec)
    assert values["default_priority"] == "urgent"
    assert (values["base_delay_seconds"], values["backoff_factor"], values["max_delay_seconds"]) == (60, 2, 3600)


def test_payload_errors_name_the_place() -> None:
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "integer"}}}}
    check_payload(schema, {"items": [1, 2]}, "t")
    with pytest.raises(MediaTasksError, match="items/1") as error:
        check_payload(schema, {"items": [1, "two"]}, "t")
    assert error.value.reason == "INVALID_INPUT"


def test_queue_lists() -> None:
    assert topology.queue_priorities("critical,high") == ("urgent", "high")
    assert topology.queue_priorities("queue:low, queue:normal") == ("medium", "low")
    assert topology.queue_priorities("") == topology.PRIORITIES
    with pytest.raises(ValueError, match="bulk"):
        topology.queue_priorities("critical,bulk")


def test_struct_numbers_come_back_as_ints() -> None:
    assert plain_json({"n": 6.0, "x": 1.5, "l": [2.0, {"m": 3.0}]}) == {"n": 6, "x": 1.5, "l": [2, {"m": 3}]}


def test_background_shape_of_a_registry_task() -> None:
    task = tasks_pb2.Task(task_id="t", task_type="my_type", status=tasks_pb2.Task.QUEUED, priority="urgent")
    task.attempt, task.max_attempts = 2, 4
    packed = background_pb2.BackgroundInput(name="nightly")
    json_format.ParseDict({"a": 1}, packed.payload)
    task.input.Pack(packed)
    assert status_name(task) == "pending"
    task.next_attempt_at.GetCurrentTime()
    shown = to_background(task)
    assert (shown.status, shown.name, shown.priority, shown.retry_count, shown.max_retries) == (
        "retrying",
        "nightly",
        "critical",
        1,
        3,
    )
    assert shown.HasField("next_retry_at") and json_format.MessageToDict(shown.payload) == {"a": 1}
