"""Structured logging: one JSON object per line, with the task id when there is one."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time

current_task_id: contextvars.ContextVar[str] = contextvars.ContextVar("task_id", default="")


class _JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        task_id = current_task_id.get()
        if task_id:
            entry["task_id"] = task_id
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        task_id = current_task_id.get()
        return f"{text} [task {task_id}]" if task_id else text


def setup_logging(service: str, *, level: str = "INFO", json_lines: bool = True) -> None:
    """Configure the root logger once per process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter(service) if json_lines else _TextFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries that log every request at INFO drown the signal.
    for noisy in ("httpx", "httpcore", "nats", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
