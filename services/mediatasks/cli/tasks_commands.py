"""The task commands of ``mediatasks``: submit, status, list, cancel, retry, logs, result,
upload, download. They talk to the gateway through the SDK (:mod:`mediatasks.client`) and
draw with rich; ``--json`` prints machine-readable output instead, and the exit code says
how it ended (see ``EXIT_CODES``), so scripts need not parse text.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from mediatasks.client import (
    ApiError,
    Client,
    Conflict,
    FailedPrecondition,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    Task,
    TransferError,
    Unauthenticated,
    Unavailable,
    Upload,
    WaitTimeout,
)
from mediatasks.client.jobs import JOBS, job_for, local_file

EXIT_OK = 0  # done; a task that was waited for COMPLETED
EXIT_TASK_FAILED = 1  # the task ended FAILED
EXIT_USAGE = 2  # bad command line (argparse's own code)
EXIT_TASK_CANCELLED = 3  # the task ended CANCELLED
EXIT_NOT_FOUND = 4  # no such task or artifact (or expired)
EXIT_REFUSED = 5  # the server refused the request: invalid input, credentials, state
EXIT_UNAVAILABLE = 6  # outage, rate or capacity limit, lost connection: try again later
EXIT_TIMEOUT = 7  # a wait ended before the task did
EXIT_CODES = {
    EXIT_OK: "success (a waited-for task COMPLETED)",
    EXIT_TASK_FAILED: "the task ended FAILED",
    EXIT_USAGE: "bad command line",
    EXIT_TASK_CANCELLED: "the task ended CANCELLED",
    EXIT_NOT_FOUND: "no such task or artifact",
    EXIT_REFUSED: "refused: invalid input, bad credentials, or not allowed in this state",
    EXIT_UNAVAILABLE: "server unavailable, busy or rate-limited: try again later",
    EXIT_TIMEOUT: "timed out while the task was still running",
}
_BY_STATUS = {"COMPLETED": EXIT_OK, "FAILED": EXIT_TASK_FAILED, "CANCELLED": EXIT_TASK_CANCELLED}
_STATUS_STYLE = {
    "QUEUED": "yellow",
    "PROCESSING": "cyan",
    "COMPLETED": "green",
    "FAILED": "red",
    "CANCELLED": "magenta",
}

Runner = Callable[[argparse.Namespace, Client, Console], int]


def task_exit_code(task: Task) -> int:
    """The exit code of a command that followed ``task``: by how it ended, or 0 while it runs."""
    return _BY_STATUS.get(task.status, EXIT_OK)


def error_exit_code(error: Exception) -> int:
    if isinstance(error, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(error, Unavailable | RateLimited):
        return EXIT_UNAVAILABLE
    if isinstance(error, WaitTimeout):
        return EXIT_TIMEOUT
    if isinstance(error, InvalidInput | Unauthenticated | PermissionDenied | Conflict | FailedPrecondition):
        return EXIT_REFUSED
    return (
        EXIT_REFUSED
        if isinstance(error, ApiError) and error.http_status and error.http_status < 500
        else EXIT_UNAVAILABLE
    )


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=str) + "\n")
    sys.stdout.flush()


def _eta(task: Task) -> str:
    seconds = task.eta_seconds
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _describe(task: Task) -> dict[str, Any]:
    """The fields the progress line shows."""
    where = f"queue #{task.queue_position}" if task.status == "QUEUED" and task.queue_position else ""
    return {
        "status": task.status,
        "style": _STATUS_STYLE.get(task.status, "white"),
        "stage": task.stage or task.queued_reason or "",
        "eta": _eta(task),
        "queue": where,
        "attempt": f"attempt {task.attempt}/{task.max_attempts}" if task.max_attempts else "",
    }


def _task_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[{task.fields[style]}]{task.fields[status]:<10}[/]"),
        BarColumn(bar_width=30),
        TaskProgressColumn(),
        TextColumn("{task.fields[stage]}"),
        TextColumn("ETA {task.fields[eta]}"),
        TextColumn("{task.fields[queue]}"),
        TextColumn("[dim]{task.fields[attempt]}[/]"),
        console=console,
        transient=False,
    )


def _transfer_progress(console: Console, verb: str) -> Progress:
    return Progress(
        TextColumn(f"{verb} {{task.description}}"),
        BarColumn(bar_width=30),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _states(client: Client, task: Task, timeout: float | None) -> Iterator[Task]:
    """The task's states as they happen (its event stream), starting with ``task``."""
    yield task
    if task.finished:
        return
    for event in client.tasks.stream(task.task_id, timeout=timeout):
        yield event.task


def follow(client: Client, task: Task, console: Console, as_json: bool, timeout: float | None = None) -> Task:
    """Show a task live until it ends: a progress bar (stage, percent, ETA, queue position,
    attempt), or with ``as_json`` one JSON line per change. Past ``timeout`` seconds,
    :class:`WaitTimeout`."""
    last = task
    if as_json:
        for state in _states(client, task, timeout):
            last = state
            _print_json(state.raw)
        return last
    with _task_progress(console) as progress:
        bar = progress.add_task(task.task_id, total=100, completed=task.progress, **_describe(task))
        for state in _states(client, task, timeout):
            last = state
            progress.update(bar, completed=state.progress, **_describe(state))
    _summary(console, last)
    return last


def _summary(console: Console, task: Task) -> None:
    style = _STATUS_STYLE.get(task.status, "white")
    console.print(f"task [bold]{task.task_id}[/] [{style}]{task.status}[/]")
    if task.error:
        console.print(f"  [red]{task.error.reason}[/]: {task.error.message}")
    for artifact in task.artifacts:
        console.print(f"  output {artifact.artifact_id}  {artifact.filename or '-'}  {artifact.size_bytes} bytes")


def _show(console: Console, task: Task) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("task", task.task_id),
        ("type", task.task_type),
        ("status", f"[{_STATUS_STYLE.get(task.status, 'white')}]{task.status}[/]"),
        ("progress", f"{task.progress}%"),
        ("stage", task.stage or "-"),
        ("attempt", f"{task.attempt}/{task.max_attempts}"),
        ("queue position", str(task.queue_position) if task.status == "QUEUED" else "-"),
        ("ETA", _eta(task)),
        ("provider", task.provider or "-"),
        ("created", str(task.created_at or "-")),
    ]
    if task.error:
        rows.append(("error", f"{task.error.reason}: {task.error.message}"))
    rows.extend(("output", f"{a.artifact_id} {a.filename} ({a.size_bytes} bytes)") for a in task.artifacts)
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


# --- commands ---------------------------------------------------------------------------


def _field_value(text: str) -> Any:
    """``--set`` values: JSON when they parse as JSON (numbers, booleans, lists), else text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def submit_fields(task_type: str, files: list[str], settings: list[str], body: str | None) -> dict[str, Any]:
    """The SDK keyword arguments of ``submit``'s ``--file``, ``--set`` and ``--body``."""
    job = job_for(task_type)
    fields: dict[str, Any] = json.loads(body) if body else {}
    if not isinstance(fields, dict):
        raise ValueError("--body must be a JSON object")
    for item in settings:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--set wants NAME=VALUE, got {item!r}")
        fields[name] = _field_value(value)
    file_names = list(job.files) or ([job.file_list[0]] if job.file_list[0] else [])
    for item in files:
        name, sep, path = item.partition("=")
        if not sep:
            # A bare path is the job's first file input (the video of a caption job...).
            if not file_names:
                raise ValueError(f"{job.task_type} takes no files")
            name, path = file_names[0], item
        if name == job.file_list[0]:
            # Fill the first --body item that has no file yet, else add an item.
            items = fields.setdefault(name, [])
            item_field = job.file_list[1]
            empty = next((i for i in items if isinstance(i, dict) and not i.get(item_field)), None)
            if empty is not None:
                empty[item_field] = path
            else:
                items.append(path)
        elif name in job.files:
            fields[name] = path
        else:
            raise ValueError(f"{job.task_type} has no file input {name!r}; it takes: {', '.join(file_names) or 'none'}")
    return fields


def _upload_with_bar(client: Client, console: Console, path: Path, quiet: bool, **options: Any) -> Upload:
    if quiet:
        return client.upload(path, **options)
    with _transfer_progress(console, "upload") as progress:
        bar = progress.add_task(path.name, total=path.stat().st_size)
        return client.upload(path, progress=lambda done, _total: progress.update(bar, completed=done), **options)


def _upload_local_files(client: Client, console: Console, task_type: str, fields: dict[str, Any], quiet: bool) -> None:
    """Upload the job's local files first, each with its progress bar; the job gets their ids."""
    job = job_for(task_type)
    list_field, item_field = job.file_list
    for name, value in list(fields.items()):
        if name in job.files and (path := local_file(value)) is not None:
            fields[name] = _upload_with_bar(client, console, path, quiet).artifact_id
        elif list_field and name == list_field:
            for index, item in enumerate(value):
                ref = item.get(item_field) if isinstance(item, dict) else item
                if (path := local_file(ref)) is not None:
                    artifact_id = _upload_with_bar(client, console, path, quiet).artifact_id
                    value[index] = {**item, item_field: artifact_id} if isinstance(item, dict) else artifact_id


def _submit(args: argparse.Namespace, client: Client, console: Console) -> int:
    fields = submit_fields(args.task_type, args.file, args.set, args.body)
    if args.priority:
        fields["priority"] = args.priority
    _upload_local_files(client, console, args.task_type, fields, quiet=args.json)
    task = client.submit(args.task_type, idempotency_key=args.idempotency_key, **fields)
    if not args.wait:
        if args.json:
            _print_json(task.raw)
        else:
            console.print(f"submitted [bold]{task.task_id}[/] ({task.task_type}) {task.status}")
        return EXIT_OK
    return task_exit_code(follow(client, task, console, args.json, args.timeout))


def _status(args: argparse.Namespace, client: Client, console: Console) -> int:
    task = client.tasks.get(args.task_id)
    if args.watch:
        return task_exit_code(follow(client, task, console, args.json, args.timeout))
    if args.json:
        _print_json(task.raw)
    else:
        _show(console, task)
    return task_exit_code(task)


def _list(args: argparse.Namespace, client: Client, console: Console) -> int:
    tasks = list(
        client.tasks.list(
            task_type=args.type,
            status=args.status,
            sort=args.sort,
            page_size=min(args.limit, 100),
            max_items=args.limit,
        )
    )
    if args.json:
        _print_json([task.raw for task in tasks])
        return EXIT_OK
    table = Table(title=f"{len(tasks)} task(s)", box=box.SIMPLE_HEAD)
    for column in ("task", "type", "status", "%", "stage", "try", "created"):
        table.add_column(column, no_wrap=True, justify="right" if column in ("%", "try") else "left")
    for task in tasks:
        created = task.created_at.strftime("%m-%d %H:%M:%S") if task.created_at else "-"
        table.add_row(
            task.task_id,
            task.task_type,
            f"[{_STATUS_STYLE.get(task.status, 'white')}]{task.status}[/]",
            str(task.progress),
            task.stage or "-",
            f"{task.attempt}/{task.max_attempts}",
            created,
        )
    console.print(table)
    return EXIT_OK


def _cancel(args: argparse.Namespace, client: Client, console: Console) -> int:
    task = client.tasks.cancel(args.task_id, reason=args.reason)
    if args.json:
        _print_json(task.raw)
    else:
        console.print(f"task [bold]{task.task_id}[/] {task.status}")
    return EXIT_OK if task.status == "CANCELLED" else EXIT_REFUSED


def _retry(args: argparse.Namespace, client: Client, console: Console) -> int:
    task = client.tasks.retry(args.task_id)
    if args.json:
        _print_json(task.raw)
    else:
        console.print(f"task [bold]{task.task_id}[/] {task.status} (attempt budget renewed)")
    return EXIT_OK


def _logs(args: argparse.Namespace, client: Client, console: Console) -> int:
    entries = client.tasks.follow_logs(args.task_id) if args.follow else iter(client.tasks.logs(args.task_id))
    for entry in entries:
        if args.json:
            _print_json(
                {"timestamp": entry.timestamp, "level": entry.level, "message": entry.message, "attempt": entry.attempt}
            )
        else:
            when = entry.timestamp.strftime("%H:%M:%S") if entry.timestamp else "--:--:--"
            console.print(f"[dim]{when}[/] {entry.level:<7} [dim]#{entry.attempt}[/] {entry.message}", highlight=False)
    return task_exit_code(client.tasks.get(args.task_id)) if args.follow else EXIT_OK


def _result(args: argparse.Namespace, client: Client, console: Console) -> int:
    result = client.tasks.result(args.task_id)
    if result is None:
        if args.json:
            _print_json({"task_id": args.task_id, "status": "RUNNING"})
        else:
            console.print(f"task {args.task_id} has not finished yet")
        return EXIT_TIMEOUT
    if args.json:
        _print_json(result)
    else:
        console.print_json(data=result)
    return _BY_STATUS.get(str(result.get("status")), EXIT_OK)


def _upload(args: argparse.Namespace, client: Client, console: Console) -> int:
    path = Path(args.path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    resumable = False if args.single_request else None
    uploaded = _upload_with_bar(client, console, path, args.json, chunk_size=args.chunk_size, resumable=resumable)
    if args.json:
        _print_json(
            {
                "artifact_id": uploaded.artifact_id,
                "size_bytes": uploaded.size_bytes,
                "sha256": uploaded.sha256,
                "content_type": uploaded.content_type,
                "resumable": uploaded.resumable,
            }
        )
    else:
        console.print(
            f"artifact [bold]{uploaded.artifact_id}[/]  {uploaded.size_bytes} bytes  sha256 {uploaded.sha256}"
        )
    return EXIT_OK


def _download(args: argparse.Namespace, client: Client, console: Console) -> int:
    # A task id downloads that task's first output; anything else is an artifact id.
    target: Any = args.id
    try:
        task = client.tasks.get(args.id)
    except (NotFound, InvalidInput):
        task = None
    if task is not None:
        if not task.artifacts:
            raise NotFound("NOT_FOUND", "NO_OUTPUT", f"task {task.task_id} has no output ({task.status})")
        target = task.artifacts[0]
    destination = Path(args.output or ".")
    if args.json:
        saved = client.download(target, destination)
    else:
        with _transfer_progress(console, "download") as progress:
            bar = progress.add_task(args.id, total=None)
            saved = client.download(
                target, destination, progress=lambda done, total: progress.update(bar, completed=done, total=total)
            )
    if args.json:
        _print_json({"path": str(saved), "size_bytes": saved.stat().st_size})
    else:
        console.print(f"saved [bold]{saved}[/] ({saved.stat().st_size} bytes)")
    return EXIT_OK


# --- wiring -----------------------------------------------------------------------------


def _run(runner: Runner) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        console = Console(stderr=args.json)
        errors = Console(stderr=True)
        try:
            with Client(args.url or None, api_key=args.api_key) as client:
                return runner(args, client, console)
        except (ApiError, WaitTimeout) as error:
            if args.json:
                payload = {"error": {"reason": getattr(error, "reason", "TIMEOUT"), "message": str(error)}}
                sys.stderr.write(json.dumps(payload) + "\n")
            else:
                errors.print(f"[red]error[/] {error}", highlight=False)
            return error_exit_code(error)
        except (ValueError, FileNotFoundError, TransferError) as error:
            errors.print(f"[red]error[/] {error}", highlight=False)
            return EXIT_USAGE if not isinstance(error, TransferError) else EXIT_UNAVAILABLE
        except KeyboardInterrupt:
            return 130

    return run


def add_task_commands(commands: argparse._SubParsersAction) -> None:
    """Register the task commands on the ``mediatasks`` parser's subcommands."""
    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument(
        "--url", default=None, help="the gateway (default $MEDIATASKS_URL or http://127.0.0.1:8080)"
    )
    connection.add_argument(
        "--api-key", default=None, help="API key (default $MEDIATASKS_API_KEY or the key of `mediatasks up`)"
    )
    connection.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    epilog = "exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items())

    def command(name: str, help_text: str, runner: Runner) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_text, parents=[connection], epilog=epilog)
        parser.set_defaults(run=_run(runner))
        return parser

    types = sorted({job.task_type for job in JOBS} | {f"{job.namespace}.{job.name}" for job in JOBS})
    submit = command("submit", "submit a job (--wait follows it with a progress bar)", _submit)
    submit.add_argument("task_type", metavar="TYPE", choices=types, help="one of: " + ", ".join(types))
    submit.add_argument(
        "--file",
        action="append",
        default=[],
        metavar="[NAME=]PATH",
        help="a local file (uploaded first), URL or artifact id for a file input (video=, audio=, subtitles=, media=, image=, images=)",
    )
    submit.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a request field (JSON values parsed)"
    )
    submit.add_argument("--body", default=None, help="request fields as one JSON object")
    submit.add_argument("--priority", default=None, choices=("urgent", "high", "medium", "low", "critical", "normal"))
    submit.add_argument("--idempotency-key", default=None, help="the same key returns the same task")
    submit.add_argument("--wait", action="store_true", help="follow the task to its end; exit code by its status")
    submit.add_argument("--timeout", type=float, default=None, help="with --wait: give up after this many seconds")

    status = command("status", "show a task (--watch: live progress until it ends)", _status)
    status.add_argument("task_id")
    status.add_argument("--watch", action="store_true")
    status.add_argument("--timeout", type=float, default=None, help="with --watch: give up after this many seconds")

    listing = command("list", "list your tasks", _list)
    listing.add_argument("--type", default=None, help="only this task type")
    listing.add_argument("--status", default=None, choices=("QUEUED", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED"))
    listing.add_argument("--sort", default=None, help="e.g. created_at or -created_at")
    listing.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")

    cancel = command("cancel", "cancel a task (stops its running work)", _cancel)
    cancel.add_argument("task_id")
    cancel.add_argument("--reason", default="")

    retry = command("retry", "queue a FAILED or CANCELLED task again", _retry)
    retry.add_argument("task_id")

    logs = command("logs", "a task's log lines (-f: follow until it ends)", _logs)
    logs.add_argument("task_id")
    logs.add_argument("-f", "--follow", action="store_true")

    result = command("result", "a finished task's result", _result)
    result.add_argument("task_id")

    upload = command("upload", "upload a file as an artifact (resumable when the server offers it)", _upload)
    upload.add_argument("path", metavar="FILE")
    upload.add_argument("--chunk-size", type=int, default=8 * 1024 * 1024, help="bytes per resumable chunk")
    upload.add_argument(
        "--single-request", action="store_true", help="one streamed POST even when the server offers resumable uploads"
    )

    download = command("download", "download an artifact, or a task's first output", _download)
    download.add_argument("id", metavar="ID", help="an artifact id or a task id")
    download.add_argument("-o", "--output", default=None, help="file or directory (default: here)")
