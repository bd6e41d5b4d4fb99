"""The ``mediatasks`` task commands as a person or a script runs them, against the whole stack."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from helpers.media import image_bytes, make_video
from mediatasks.cli.tasks_commands import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_TASK_CANCELLED,
    EXIT_TIMEOUT,
    EXIT_USAGE,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cli_env(stack) -> dict[str, str]:
    """A terminal of an owner of its own, pointed at the stack by environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIATASKS_")}
    env.update(
        MEDIATASKS_URL=stack.http_url,
        MEDIATASKS_API_KEY=stack.create_api_key(f"cli-{uuid.uuid4().hex[:8]}"),
        COLUMNS="140",
        NO_COLOR="1",
    )
    return env


def mediatasks(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mediatasks.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_submit_wait_json_then_status_list_result_download(cli_env, tmp_path):
    text = f"Hello from the terminal {uuid.uuid4().hex}."
    done = mediatasks(
        cli_env, "submit", "subtitles.generate", "--set", f"text={text}", "--set", "format=srt", "--wait", "--json"
    )
    assert done.returncode == EXIT_OK, done.stderr
    states = [json.loads(line) for line in done.stdout.splitlines()]  # one JSON line per change
    assert states[-1]["status"] == "COMPLETED" and states[-1]["progress"] == 100
    task_id = states[-1]["task_id"]

    status = mediatasks(cli_env, "status", task_id, "--json")
    assert status.returncode == EXIT_OK and json.loads(status.stdout)["task_id"] == task_id
    shown = mediatasks(cli_env, "status", task_id)
    assert "COMPLETED" in shown.stdout and "subtitle_generation" in shown.stdout

    listed = mediatasks(cli_env, "list", "--status", "COMPLETED", "--json")
    assert task_id in [item["task_id"] for item in json.loads(listed.stdout)]
    table = mediatasks(cli_env, "list", "--type", "subtitle_generation")
    assert task_id in table.stdout and "task(s)" in table.stdout

    result = mediatasks(cli_env, "result", task_id, "--json")
    assert result.returncode == EXIT_OK and json.loads(result.stdout)["status"] == "COMPLETED"

    downloaded = mediatasks(cli_env, "download", task_id, "-o", str(tmp_path), "--json")
    assert downloaded.returncode == EXIT_OK, downloaded.stderr
    saved = Path(json.loads(downloaded.stdout)["path"])
    assert saved.parent == tmp_path and text.split()[0] in saved.read_text()


def test_watch_draws_a_progress_bar(cli_env):
    submitted = mediatasks(
        cli_env, "submit", "subtitle_generation", "--set", f"text=Watch me {uuid.uuid4().hex}.", "--json"
    )
    task_id = json.loads(submitted.stdout)["task_id"]
    watched = mediatasks(cli_env, "status", task_id, "--watch")
    assert watched.returncode == EXIT_OK, watched.stderr
    assert "100%" in watched.stdout and "COMPLETED" in watched.stdout and "attempt 1/" in watched.stdout


def test_upload_then_submit_with_the_artifact_and_download(cli_env, tmp_path):
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(2 * 1024 * 1024 + 5))
    uploaded = mediatasks(cli_env, "upload", str(source), "--chunk-size", str(1024 * 1024), "--json")
    assert uploaded.returncode == EXIT_OK, uploaded.stderr
    artifact = json.loads(uploaded.stdout)
    assert artifact["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest() and artifact["resumable"]
    single = json.loads(mediatasks(cli_env, "upload", str(source), "--single-request", "--json").stdout)
    assert single["sha256"] == artifact["sha256"] and not single["resumable"]
    drawn = mediatasks(cli_env, "upload", str(source))
    assert drawn.returncode == EXIT_OK and "upload data.bin" in drawn.stdout and "2.1 MB" in drawn.stdout

    back = tmp_path / "back.bin"
    downloaded = mediatasks(cli_env, "download", artifact["artifact_id"], "-o", str(back))
    assert downloaded.returncode == EXIT_OK, downloaded.stderr
    assert back.read_bytes() == source.read_bytes() and "download" in downloaded.stdout


def test_cancel_retry_and_their_exit_codes(cli_env, tmp_path):
    slide = tmp_path / "slide.png"
    slide.write_bytes(image_bytes((1280, 720), "teal"))
    body = json.dumps({"images": [{"duration": 120}], "width": 1280, "height": 720, "fps": 30})
    # --file images= fills the slideshow's image; --body carries the rest of the request.
    submitted = mediatasks(cli_env, "submit", "videos.img2vid", "--body", body, "--file", f"images={slide}", "--json")
    assert submitted.returncode == EXIT_OK, submitted.stderr
    task_id = json.loads(submitted.stdout)["task_id"]

    timed_out = mediatasks(cli_env, "status", task_id, "--watch", "--timeout", "1", "--json")
    assert timed_out.returncode == EXIT_TIMEOUT
    assert json.loads(timed_out.stderr.splitlines()[-1])["error"]["reason"] == "TIMEOUT"

    cancelled = mediatasks(cli_env, "cancel", task_id, "--reason", "from the terminal", "--json")
    assert cancelled.returncode == EXIT_OK and json.loads(cancelled.stdout)["status"] == "CANCELLED"
    assert mediatasks(cli_env, "status", task_id).returncode == EXIT_TASK_CANCELLED

    retried = mediatasks(cli_env, "retry", task_id, "--json")
    assert retried.returncode == EXIT_OK and json.loads(retried.stdout)["status"] == "QUEUED"
    assert mediatasks(cli_env, "cancel", task_id).returncode == EXIT_OK

    assert mediatasks(cli_env, "status", task_id).returncode == EXIT_TASK_CANCELLED


def test_logs_follow_ends_with_the_task(cli_env):
    submitted = mediatasks(cli_env, "submit", "subtitles.generate", "--set", f"text=Logs {uuid.uuid4().hex}.", "--json")
    task_id = json.loads(submitted.stdout)["task_id"]
    followed = mediatasks(cli_env, "logs", task_id, "-f", "--json", timeout=90)
    assert followed.returncode == EXIT_OK, followed.stderr
    assert all(json.loads(line)["message"] for line in followed.stdout.splitlines())


def test_errors_give_script_friendly_exit_codes(cli_env, tmp_path):
    missing = mediatasks(cli_env, "status", str(uuid.uuid4()), "--json")
    assert missing.returncode == EXIT_NOT_FOUND
    assert json.loads(missing.stderr)["error"]["reason"] == "TASK_NOT_FOUND"
    invalid = mediatasks(cli_env, "submit", "subtitles.generate", "--set", "format=docx", "--set", "text=x")
    assert invalid.returncode == EXIT_REFUSED and "INVALID" in invalid.stderr
    bad_key = mediatasks({**cli_env, "MEDIATASKS_API_KEY": "mt_wrong"}, "list")
    assert bad_key.returncode == EXIT_REFUSED and "UNAUTHENTICATED" in bad_key.stderr
    no_file = mediatasks(cli_env, "upload", str(tmp_path / "absent.bin"))
    assert no_file.returncode == EXIT_USAGE and "no such file" in no_file.stderr
    wrong_input = mediatasks(cli_env, "submit", "audio.transcribe", "--file", "video=x.mp4")
    assert wrong_input.returncode == EXIT_USAGE and "no file input 'video'" in wrong_input.stderr


def test_submit_uploads_a_local_file_with_its_progress_bar(cli_env, tmp_path):
    video = make_video(tmp_path / "clip.mp4", seconds=1.0)
    done = mediatasks(cli_env, "submit", "videos.analyze", "--file", str(video), "--wait")
    assert done.returncode == EXIT_OK, done.stderr
    assert "upload clip.mp4" in done.stdout and "COMPLETED" in done.stdout
