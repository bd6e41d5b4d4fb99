"""The asyncio REST client: the same calls as :class:`mediatasks.client.Client`, awaited.

::

    from mediatasks.client import AsyncClient

    async with AsyncClient("http://127.0.0.1:8080", api_key="mt_...") as client:
        task = await client.subtitles.generate(text="Hello there.", format="srt", wait=True)
        async for event in client.tasks.stream(task.task_id):
            print(event.event_type, event.task.progress)
"""

from __future__ import annotations

import asyncio
import builtins
import json as jsonlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from mediatasks.client import transfer
from mediatasks.client.config import default_api_key, default_base_url
from mediatasks.client.errors import (
    ApiError,
    TaskFailed,
    TransferError,
    WaitTimeout,
)
from mediatasks.client.jobs import job_for, prepare
from mediatasks.client.models import LogEntry, Task, TaskEvent, TaskPage, Upload
from mediatasks.client.namespaces import Audio, Images, Subtitles, Videos
from mediatasks.client.rest import SERVER_WAIT_LIMIT, TRANSPORT_ERRORS, api_error, connection_error
from mediatasks.client.retry import RETRYABLE_HTTP, RetryPolicy
from mediatasks.client.sse import aiter_events


class AsyncClient:
    """A mediatasks client over REST, for asyncio.

    ``base_url`` defaults to ``MEDIATASKS_URL`` (else http://127.0.0.1:8080), ``api_key``
    to ``MEDIATASKS_API_KEY`` (else the key ``mediatasks up`` wrote). Calls that fail with
    UNAVAILABLE or RESOURCE_EXHAUSTED are tried again per ``retry``; each create call
    sends one Idempotency-Key for all its tries.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        key = default_api_key() if api_key is None else api_key
        headers = {"X-API-Key": key} if key else {}
        self.base_url = (base_url or default_base_url()).rstrip("/")
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)
        self.tasks = AsyncTasks(self)
        self.images = Images(self.submit)
        self.videos = Videos(self.submit)
        self.audio = Audio(self.submit)
        self.subtitles = Subtitles(self.submit)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # --- transport ------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool | None = None,
        expect: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> httpx.Response:
        """One call with retries; an error answer raises its :class:`ApiError`.

        Answers of 429/503 are always retried (the server refused before acting); lost
        connections and 502/504 only when the call is ``idempotent`` (default: every
        method but POST). ``expect`` lists error statuses returned instead of raised.
        """
        if idempotent is None:
            idempotent = method.upper() != "POST"
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.retry.attempts
            try:
                response = await self._http.request(method, path, **kwargs)
            except TRANSPORT_ERRORS as exc:
                if last or not idempotent:
                    raise connection_error(exc) from exc
                await asyncio.sleep(self.retry.delay(attempt))
                continue
            if response.status_code < 400 or response.status_code in expect:
                return response
            error = api_error(response)
            if (
                not last
                and response.status_code in RETRYABLE_HTTP
                and (idempotent or response.status_code in (429, 503))
            ):
                await asyncio.sleep(self.retry.delay(attempt, error.retry_after))
                continue
            raise error

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self.request(method, path, **kwargs)).json()

    # --- jobs -----------------------------------------------------------------------

    async def submit(
        self,
        task_type: str,
        *,
        wait: bool | float = False,
        raise_on_failure: bool = False,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Task:
        """Submit a job of ``task_type`` (``video_caption`` or ``videos.caption``).

        File arguments (``video=``, ``audio=``, ``subtitles=``...) take a local path
        (uploaded first), an https URL or an artifact id; other keywords are request
        fields as the API names them. ``wait=True`` returns the finished task (``wait=N``:
        at most N seconds, then :class:`WaitTimeout`).
        """
        job = job_for(task_type)
        prepared = prepare(job, fields)
        for location, path in prepared.uploads:
            prepared.fill(location, (await self.upload(path)).artifact_id)
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        deadline = None if wait is True or not wait else time.monotonic() + float(wait)
        if wait:
            hold = SERVER_WAIT_LIMIT if deadline is None else min(SERVER_WAIT_LIMIT, float(wait))
            headers["Prefer"] = f"wait={max(1, int(hold))}"
        response = await self.request(
            "POST", job.path, json=prepared.body, headers=headers, idempotent=True, timeout=SERVER_WAIT_LIMIT + 15
        )
        task = Task.from_json(response.json())
        if wait and not task.finished:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            task = await self.tasks.wait(task.task_id, timeout=remaining)
        if raise_on_failure and task.status in ("FAILED", "CANCELLED"):
            raise TaskFailed(task)
        return task

    # --- files ----------------------------------------------------------------------

    async def upload(
        self,
        path: str | os.PathLike[str],
        *,
        progress: transfer.Progress | None = None,
        chunk_size: int = transfer.DEFAULT_CHUNK_SIZE,
        content_type: str | None = None,
        resumable: bool | None = None,
    ) -> Upload:
        """Store a local file as an artifact; returns its id for a job's input.

        Resumable (tus 1.0 chunks of ``chunk_size``, continuing from the server's offset
        after a dropped connection) when the server offers it, else one streamed POST.
        ``progress(sent_bytes, total_bytes)`` is called as bytes go out. ``resumable``
        False always sends the single POST; True refuses to upload without tus.
        """
        file = Path(path)
        size = file.stat().st_size
        kind = content_type or transfer.guess_content_type(file)
        sha256 = transfer.file_sha256(file)
        offer = None if resumable is False else await self._tus_offer()
        if offer is not None and offer.accepts(size):
            return await self._tus_upload(file, size, kind, sha256, offer, progress, chunk_size)
        if resumable:
            raise TransferError(f"the server offers no resumable upload for {size} bytes (tus 1.0 creation)")
        response = await self.request(
            "POST",
            transfer.UPLOAD_PATH,
            # The body is read from a fresh file handle on every try.
            content=_AsyncRestartable(file, progress, size),
            headers={"Content-Type": kind, "X-Filename": file.name, "Content-Length": str(size)},
            idempotent=True,
        )
        body = response.json()
        if body.get("sha256") and body["sha256"] != sha256:
            raise TransferError(f"upload of {file} stored sha256 {body['sha256']}, the file has {sha256}")
        return Upload(
            artifact_id=body["artifact_id"],
            size_bytes=int(body.get("size_bytes") or size),
            sha256=body.get("sha256", sha256),
            content_type=body.get("content_type", kind),
        )

    async def _tus_offer(self) -> transfer.TusOffer | None:
        # An old server has no such route (404) or method (405): it takes the single POST.
        try:
            response = await self.request("OPTIONS", transfer.TUS_PATH, expect=(400, 404, 405, 501))
        except ApiError:
            return None
        return transfer.parse_tus_offer(response.status_code, response.headers)

    async def _tus_upload(
        self,
        file: Path,
        size: int,
        content_type: str,
        sha256: str,
        offer: transfer.TusOffer,
        progress: transfer.Progress | None,
        chunk_size: int,
    ) -> Upload:
        created = await self.request(
            "POST",
            transfer.TUS_PATH,
            headers=transfer.creation_headers(size, file.name, content_type, sha256),
            idempotent=False,
        )
        location = str(self._http.base_url.join(created.headers["location"]))
        upload_id = location.rstrip("/").rsplit("/", 1)[-1]
        offset = transfer.header_offset(created.headers) or 0
        with_checksum = "checksum" in offer.extensions and "sha256" in offer.checksum_algorithms
        stalls = 0
        while offset < size:
            chunk = transfer.read_chunk(file, offset, chunk_size)
            try:
                answer = await self._http.patch(
                    location, content=chunk, headers=transfer.patch_headers(offset, chunk, with_checksum)
                )
            except TRANSPORT_ERRORS as exc:
                failure: ApiError = connection_error(exc)
                retryable = True
            else:
                if answer.status_code == 204:
                    new_offset = transfer.header_offset(answer.headers)
                    if new_offset is None or new_offset <= offset:
                        raise TransferError(f"the server answered offset {new_offset} after {offset}")
                    offset, stalls = new_offset, 0
                    if progress is not None:
                        progress(offset, size)
                    continue
                failure = api_error(answer)
                # 409 (offset mismatch), 460 (checksum mismatch), 429/5xx: ask the server
                # where it stands and go on from there.
                retryable = answer.status_code in (409, 460, *RETRYABLE_HTTP)
            stalls += 1
            if not retryable or stalls >= self.retry.attempts:
                raise failure
            await asyncio.sleep(self.retry.delay(stalls, failure.retry_after))
            head = await self.request("HEAD", location, headers={"Tus-Resumable": transfer.TUS_VERSION})
            offset = transfer.header_offset(head.headers) or 0
        record = await self._json("GET", f"{transfer.UPLOAD_PATH}/{upload_id}")
        if record.get("sha256") and record["sha256"] != sha256:
            raise TransferError(f"upload {upload_id} stored sha256 {record['sha256']}, the file has {sha256}")
        return Upload(
            artifact_id=record.get("artifact_id") or upload_id,
            size_bytes=int(record.get("length") or size),
            sha256=record.get("sha256") or sha256,
            content_type=content_type,
            resumable=True,
        )

    async def download(
        self, artifact: Any, path: str | os.PathLike[str], *, progress: transfer.Progress | None = None
    ) -> Path:
        """Stream an artifact (an id, an Artifact, or a task's first output) to ``path``
        (a file, or a directory to put it in under the server's file name).

        The bytes go to ``<target>.part`` and are renamed when complete; after a dropped
        connection the download continues with ``Range`` when the server accepts ranges.
        """
        artifact_id = transfer.artifact_id_of(artifact)
        url = f"/api/v1/media/artifacts/{artifact_id}"
        target: Path | None = None
        received, total, attempt = 0, None, 0
        while True:
            attempt += 1
            headers = {"Range": f"bytes={received}-"} if received else {}
            try:
                async with self._http.stream("GET", url, headers=headers) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        error = api_error(response)
                        if response.status_code in RETRYABLE_HTTP and attempt < self.retry.attempts:
                            await asyncio.sleep(self.retry.delay(attempt, error.retry_after))
                            continue
                        raise error
                    if target is None:
                        target = transfer.download_target(
                            Path(path), response.headers.get("content-disposition", ""), artifact_id
                        )
                    partial = target.with_name(target.name + ".part")
                    resumed = response.status_code == 206
                    if not resumed:
                        received = 0
                        length = response.headers.get("content-length")
                        total = int(length) if length and length.isdigit() else None
                    with partial.open("ab" if resumed else "wb") as out:
                        async for block in response.aiter_raw():
                            out.write(block)
                            received += len(block)
                            if progress is not None:
                                progress(received, total)
            except TRANSPORT_ERRORS as exc:
                if attempt >= self.retry.attempts:
                    raise connection_error(exc) from exc
                await asyncio.sleep(self.retry.delay(attempt))
                continue
            if total is not None and received != total:
                raise TransferError(f"artifact {artifact_id}: got {received} of {total} bytes")
            assert target is not None
            partial.replace(target)
            return target


class _AsyncRestartable:
    """A streamed request body that starts again from the file's first byte on each try
    (file reads are short blocking calls of 1 MiB)."""

    def __init__(self, path: Path, progress: transfer.Progress | None, total: int) -> None:
        self.path, self.progress, self.total = path, progress, total

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for block in transfer.file_stream(self.path, self.progress, self.total):
            yield block


class AsyncTasks:
    """``client.tasks``: read, follow and act on tasks."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def get(self, task_id: str) -> Task:
        return Task.from_json(await self._client._json("GET", f"/api/v1/media/tasks/{task_id}"))

    async def list_page(
        self,
        *,
        task_type: str | None = None,
        status: str | None = None,
        sort: str | None = None,
        limit: int = 50,
        page_token: str | None = None,
        offset: int | None = None,
    ) -> TaskPage:
        """One page of the caller's tasks (newest first unless ``sort`` says otherwise)."""
        params: dict[str, Any] = {"limit": limit}
        for name, value in (
            ("task_type", task_type),
            ("status", status),
            ("sort", sort),
            ("page_token", page_token),
            ("offset", offset),
        ):
            if value:
                params[name] = value
        return TaskPage.from_json(await self._client._json("GET", "/api/v1/media/tasks", params=params))

    async def list(
        self,
        *,
        task_type: str | None = None,
        status: str | None = None,
        sort: str | None = None,
        page_size: int = 50,
        max_items: int | None = None,
    ) -> AsyncIterator[Task]:
        """Every matching task, fetching pages as the iteration reaches them."""
        token: str | None = None
        yielded = 0
        while True:
            page = await self.list_page(
                task_type=task_type, status=status, sort=sort, limit=page_size, page_token=token
            )
            for task in page.items:
                if max_items is not None and yielded >= max_items:
                    return
                yielded += 1
                yield task
            if not page.next_page_token or not page.items:
                return
            token = page.next_page_token

    async def wait(self, task_id: str, *, timeout: float | None = None, raise_on_failure: bool = False) -> Task:
        """Block until the task ends (the server holds each request up to 60 s).

        ``timeout`` None waits as long as it takes; past it, :class:`WaitTimeout` carries
        the last state seen.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = SERVER_WAIT_LIMIT if deadline is None else deadline - time.monotonic()
            hold = max(0.1, min(SERVER_WAIT_LIMIT, remaining))
            data = await self._client._json(
                "GET",
                f"/api/v1/media/tasks/{task_id}/wait",
                params={"timeout_seconds": round(hold, 3)},
                timeout=hold + 15,
            )
            task = Task.from_json(data)
            if task.finished:
                if raise_on_failure and task.status != "COMPLETED":
                    raise TaskFailed(task)
                return task
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(task, timeout or 0.0)

    async def stream(
        self, task_id: str, *, after: int = 0, reconnect: bool = True, timeout: float | None = None
    ) -> AsyncIterator[TaskEvent]:
        """The task's events (SSE) from sequence ``after`` on, until it ends.

        A dropped stream is resumed with ``Last-Event-ID`` (nothing lost, nothing
        repeated) as long as ``reconnect`` and the retry policy allow. Past ``timeout``
        seconds without the end, :class:`WaitTimeout`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        last = after
        failures = 0
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise WaitTimeout(await self.get(task_id), timeout or 0.0)
            headers = {"Accept": "text/event-stream"}
            if last:
                headers["Last-Event-ID"] = str(last)
            try:
                async with self._client._http.stream(
                    "GET",
                    f"/api/v1/media/tasks/{task_id}/events",
                    headers=headers,
                    timeout=httpx.Timeout(30.0, read=remaining),
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise api_error(response)
                    async for sse in aiter_events(response.aiter_lines()):
                        event = TaskEvent.from_json(jsonlib.loads(sse.data))
                        if event.sequence and event.sequence <= last:
                            continue
                        last = event.sequence or last
                        failures = 0
                        yield event
                        if event.task.finished:
                            return
            except httpx.ReadTimeout:
                continue  # only a deadline sets a read timeout: the loop's check ends it
            except TRANSPORT_ERRORS as exc:
                failures += 1
                if not reconnect or failures >= self._client.retry.attempts:
                    raise connection_error(exc) from exc
                await asyncio.sleep(self._client.retry.delay(failures))
                continue
            # The server closed the stream without an end: look, then resume or stop.
            task = await self.get(task_id)
            if task.finished or not reconnect:
                return

    async def cancel(self, task_id: str, *, reason: str = "") -> Task:
        body = {"reason": reason} if reason else {}
        return Task.from_json(
            await self._client._json("POST", f"/api/v1/media/tasks/{task_id}/cancel", json=body, idempotent=True)
        )

    async def delete(self, task_id: str) -> Task:
        return Task.from_json(await self._client._json("DELETE", f"/api/v1/media/tasks/{task_id}"))

    async def retry(self, task_id: str) -> Task:
        """Queue a FAILED or CANCELLED task again."""
        return Task.from_json(await self._client._json("POST", f"/api/v1/media/tasks/{task_id}/retry", json={}))

    async def logs(self, task_id: str, *, limit: int | None = None) -> builtins.list[LogEntry]:
        params = {"limit": limit} if limit else {}
        data = await self._client._json("GET", f"/api/v1/media/tasks/{task_id}/logs", params=params)
        return [LogEntry.from_json(entry) for entry in data.get("entries") or ()]

    async def follow_logs(
        self, task_id: str, *, poll_seconds: float = 1.0, timeout: float | None = None
    ) -> AsyncIterator[LogEntry]:
        """Log lines as they arrive, until the task ends (``logs -f``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = 0
        while True:
            finished = (await self.get(task_id)).finished
            entries = await self.logs(task_id, limit=5000)
            for entry in entries[seen:]:
                yield entry
            seen = max(seen, len(entries))
            if finished:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(await self.get(task_id), timeout or 0.0)
            await asyncio.sleep(poll_seconds)

    async def result(self, task_id: str) -> dict[str, Any] | None:
        """The result of a finished task (``{"task_id", "status", "result"...}``); None while it runs."""
        response = await self._client.request("GET", f"/api/v1/media/tasks/{task_id}/result")
        return None if response.status_code == 202 else response.json()
