"""The ``kind`` label of the outbox's metrics tells jobs, events and webhook copies apart."""

from __future__ import annotations

import uuid

from mediatasks.core import topology
from mediatasks.registry.outbox import kind_of


def test_each_subject_of_the_outbox_has_its_kind():
    task_id = str(uuid.uuid4())
    assert kind_of(topology.job_subject("subtitle_generation", "high")) == "job"
    assert kind_of(topology.event_subject(task_id)) == "event"
    assert kind_of(topology.hook_subject(task_id)) == "hook"
