"""``make bench-media`` (second part): moving real-sized media through the platform.

On a stack of its own (registry, the video service, Envoy, embedded NATS and PostgreSQL)
on loopback, with files generated here:

1. **throughput**: one 1 GiB file uploaded (one streamed POST) and downloaded through
   Envoy; MB/s each way (goal: >= 300);
2. **memory**: four 1 GiB uploads at once, then four downloads at once, while the resident
   memory of Envoy, the registry and the video worker is sampled; the growth of each over
   its idle size (goal: <= 64 MB each, i.e. nothing holds a file);
3. **caption burn-in**: a 60 s 1280x720 clip captioned through the platform *including*
   its upload and the download of the result, against the very same ffmpeg work run
   directly (:func:`mediatasks.video.operations.burn_captions`, the function the worker
   calls), median of 3 runs interleaved (goal: <= 1.10x); the video worker's memory growth
   while it streams the clip in and the result out.

Prints one JSON object. Peers in the same run on the same machine: the ratio in 3 is to
the direct run, measured minutes apart, not to a figure from another day.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from mediatasks.devstack.stack import Stack
from mediatasks.media.ffmpeg import ffmpeg_exe
from mediatasks.testing.files import BLOCK, file_chunks, make_file

MIB = 1024 * 1024
SRT = "".join(f"{i + 1}\n00:00:{i:02d},000 --> 00:00:{i:02d},900\nCaption number {i + 1}\n\n" for i in range(59))


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class RssSampler:
    """Samples the resident size of some processes every 50 ms until stopped."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.idle = {name: rss_bytes(pid) for name, pid in pids.items()}
        self.peak = dict(self.idle)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], rss_bytes(pid))

    def __enter__(self) -> RssSampler:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def growth_mb(self) -> dict[str, float]:
        return {name: round((self.peak[name] - self.idle[name]) / 1e6, 1) for name in self.pids}


def upload(client: httpx.Client, path: Path, content_type: str = "application/octet-stream") -> dict[str, Any]:
    answer = client.post(
        "/api/v1/media/uploads",
        content=file_chunks(path),
        headers={"content-type": content_type, "x-filename": path.name, "content-length": str(path.stat().st_size)},
    )
    answer.raise_for_status()
    return answer.json()


def download(client: httpx.Client, url: str, target: Path | None = None) -> int:
    size = 0
    with client.stream("GET", url) as response:
        response.raise_for_status()
        sink = target.open("wb") if target else None
        try:
            for chunk in response.iter_bytes(BLOCK):
                size += len(chunk)
                if sink:
                    sink.write(chunk)
        finally:
            if sink:
                sink.close()
    return size


def measure_throughput(client: httpx.Client, work: Path, size: int) -> dict[str, Any]:
    path = work / "one.bin"
    sha256 = make_file(path, size)
    started = time.perf_counter()
    artifact = upload(client, path)
    up = time.perf_counter() - started
    assert artifact["sha256"] == sha256, "the stored checksum differs"
    started = time.perf_counter()
    got = download(client, artifact["url"])
    down = time.perf_counter() - started
    assert got == size
    return {
        "bytes": size,
        "upload_mb_per_s": round(size / up / 1e6, 1),
        "download_mb_per_s": round(size / down / 1e6, 1),
        "artifact_id": artifact["artifact_id"],
    }


def measure_memory(stack: Stack, base_url: str, key: str, work: Path, size: int, streams: int) -> dict[str, Any]:
    paths = []
    for index in range(streams):
        path = work / f"parallel-{index}.bin"
        make_file(path, size)
        paths.append(path)
    pids: dict[str, int] = {"envoy": (stack.envoy.pid or 0) if stack.envoy else 0}
    for process in stack.processes:
        if process.service in ("registry", "video") and process.child.pid:
            pids[process.service] = process.child.pid

    def run_all(job) -> list[Any]:
        results: list[Any] = [None] * streams

        def one(index: int) -> None:
            with httpx.Client(base_url=base_url, headers={"X-API-Key": key}, timeout=600) as client:
                results[index] = job(client, index)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(streams)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    with RssSampler(pids) as uploads_rss:
        artifacts = run_all(lambda client, i: upload(client, paths[i]))
    with RssSampler(pids) as downloads_rss:
        run_all(lambda client, i: download(client, artifacts[i]["url"]))
    return {
        "streams": streams,
        "bytes_each": size,
        "rss_growth_mb_uploads": uploads_rss.growth_mb(),
        "rss_growth_mb_downloads": downloads_rss.growth_mb(),
        "idle_rss_mb": {name: round(value / 1e6, 1) for name, value in uploads_rss.idle.items()},
    }


def make_clip(path: Path, seconds: int) -> None:
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=25:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True,
        timeout=600,
    )  # fmt: skip


def caption_direct(clip: Path, srt: Path, out: Path) -> float:
    from mediatasks.video.operations import burn_captions

    started = time.perf_counter()
    asyncio.run(burn_captions(clip, srt, out))
    return time.perf_counter() - started


def caption_through_platform(client: httpx.Client, clip: Path, out: Path) -> float:
    started = time.perf_counter()
    video = upload(client, clip, "video/mp4")["artifact_id"]
    answer = client.post("/api/v1/media/videos/caption", json={"video_url": video, "subtitles": SRT, "no_cache": True})
    answer.raise_for_status()
    task_id = answer.json()["task_id"]
    while True:
        task = client.get(f"/api/v1/media/tasks/{task_id}").json()
        if task["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.05)
    if task["status"] != "COMPLETED":
        raise RuntimeError(f"caption job {task['status']}: {task.get('error')}")
    artifact = next(a for a in task["output"]["artifacts"] if a["role"] == "video")
    download(client, artifact["url"], out)
    return time.perf_counter() - started


def measure_caption(client: httpx.Client, work: Path, seconds: int, runs: int, worker_pid: int) -> dict[str, Any]:
    clip = work / "clip.mp4"
    make_clip(clip, seconds)
    srt = work / "captions.srt"
    srt.write_text(SRT)
    direct: list[float] = []
    platform: list[float] = []
    worker = RssSampler({"video_worker": worker_pid})
    for run in range(runs):  # interleaved, so drift on a noisy machine hits both
        direct.append(caption_direct(clip, srt, work / f"direct-{run}.mp4"))
        with worker:  # the worker streams the clip in and the result out (ffmpeg is a child)
            platform.append(caption_through_platform(client, clip, work / f"platform-{run}.mp4"))
    median_direct, median_platform = statistics.median(direct), statistics.median(platform)
    return {
        "clip": f"{seconds} s 1280x720 25 fps",
        "runs": runs,
        "direct_seconds": [round(x, 2) for x in direct],
        "platform_seconds_with_upload_and_download": [round(x, 2) for x in platform],
        "ratio_median": round(median_platform / median_direct, 3),
        "worker_rss_growth_mb": worker.growth_mb()["video_worker"],
        "clip_mb": round(clip.stat().st_size / 1e6, 1),
    }


def _pid_of(stack: Stack, service: str) -> int:
    return next((p.child.pid or 0) for p in stack.processes if p.service == service)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of each transferred file")
    parser.add_argument("--streams", type=int, default=4, help="concurrent transfers in the memory run")
    parser.add_argument("--clip-seconds", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    size = args.size_mib * MIB
    with tempfile.TemporaryDirectory(prefix="mediatasks-bench-transfers-") as scratch:
        work = Path(scratch)
        stack = Stack(
            work / "state",
            media_services=("video",),
            env={"MEDIATASKS_LOG_JSON": "false", "MEDIATASKS_OUTBOX_POLL_SECONDS": "0.05"},
        )
        stack.start()
        try:
            with httpx.Client(base_url=stack.http_url, headers={"X-API-Key": stack.api_key}, timeout=600) as client:
                report = {
                    "benchmark": "transfers",
                    "cpus": os.cpu_count(),
                    "throughput": measure_throughput(client, work, size),
                    "memory": measure_memory(stack, stack.http_url, stack.api_key, work, size, args.streams),
                    "caption_burn_in": measure_caption(
                        client, work, args.clip_seconds, args.runs, _pid_of(stack, "video")
                    ),
                }
        finally:
            stack.stop()
    report["goals"] = {
        "throughput_mb_per_s": 300,
        "rss_growth_mb_each": 64,
        "caption_ratio": 1.10,
    }
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
