"""``mediatasks worker`` refuses what it cannot run before it connects anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from mediatasks.cli.main import main


def test_unknown_queue_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "--app", "mediatasks.background.builtin:tasks", "--queues", "critical,bulk"]) == 2
    assert "bulk" in capsys.readouterr().err


def test_an_app_that_is_not_a_task_app_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notanapp.py").write_text("tasks = 42\n")
    (tmp_path / "emptyapp.py").write_text("from mediatasks.worker import TaskApp\ntasks = TaskApp()\n")
    monkeypatch.chdir(tmp_path)
    assert main(["worker", "--app", "notanapp:tasks"]) == 2
    assert "not a mediatasks.worker.TaskApp" in capsys.readouterr().err
    assert main(["worker", "--app", "emptyapp:tasks"]) == 2
    assert "declares no task types" in capsys.readouterr().err
    assert main(["worker", "--app", "no_such_module:tasks"]) == 2


def test_concurrency_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "--app", "mediatasks.background.builtin:tasks", "--concurrency", "0"]) == 2
