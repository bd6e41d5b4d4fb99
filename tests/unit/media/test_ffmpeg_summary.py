"""Every ffmpeg run logs one summary line (it reaches the job's task log)."""

from __future__ import annotations

import logging

import pytest
from mediatasks.media.ffmpeg import run_ffmpeg


async def test_a_run_logs_its_stage_time_frames_and_size(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "out.mp4"
    caplog.set_level(logging.INFO, logger="mediatasks.media.ffmpeg")
    await run_ffmpeg(
        ["-f", "lavfi", "-i", "color=c=red:s=64x48:d=1:r=10", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out)],
        stage="encoding",
        timeout=60,
    )
    lines = [
        r.getMessage() for r in caplog.records if r.name == "mediatasks.media.ffmpeg" and r.levelno == logging.INFO
    ]
    assert len(lines) == 1
    assert lines[0].startswith("ffmpeg encoding finished in ")
    assert ": 10 frames, " in lines[0] and " kB, " in lines[0] and " of output, speed " in lines[0]
