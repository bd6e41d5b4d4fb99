"""Scripted misbehaviour shared by every fake: "the next N calls answer 429", "hang"."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class Fault:
    """What the next matching call(s) do instead of answering normally.

    ``status`` is an HTTP status (gRPC fakes translate it to the matching status code);
    ``code`` is the vendor's error code (e.g. ``content_policy_violation``); a fault with
    ``hang_seconds`` waits that long (or until the client goes away or the fake stops)
    before answering ``status``, or normally when ``status`` is 0.
    """

    route: str | None = None
    status: int = 0
    code: str | None = None
    message: str = ""
    hang_seconds: float = 0.0
    retry_after: float | None = None
    remaining: int = 1


@dataclass
class RecordedCall:
    route: str
    method: str
    path: str
    # HTTP headers, or gRPC metadata (whose "-bin" keys carry bytes).
    headers: Mapping[str, str | bytes]
    json: object | None = None
    fields: dict[str, str] = field(default_factory=dict)
    body_bytes: int = 0


class FaultScript:
    """Thread-safe queue of faults plus a log of calls (route by route)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.calls: list[RecordedCall] = []
        self.aborted: list[str] = []
        # Set when the fake stops, so hung handlers return at once.
        self.released = threading.Event()
        # Bumped by clear(): calls hanging from an earlier test stop hanging.
        self.generation = 0

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._faults.clear()
            self.calls.clear()
            self.aborted.clear()

    def take(self, route: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.route is None or fault.route == route:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def hang_ended(self, generation: int) -> bool:
        """Whether a hang that started at ``generation`` must end (reset or stop)."""
        return self.released.is_set() or self.generation != generation

    def record(self, call: RecordedCall) -> None:
        with self._lock:
            self.calls.append(call)

    def record_abort(self, route: str) -> None:
        with self._lock:
            self.aborted.append(route)

    def count(self, route: str) -> int:
        with self._lock:
            return sum(1 for call in self.calls if call.route == route)

    def routes(self) -> list[str]:
        with self._lock:
            return [call.route for call in self.calls]


class ScriptedFake:
    """The scripting surface every fake offers tests."""

    name = "fake"

    def __init__(self) -> None:
        self.script = FaultScript()

    def fail(
        self,
        status: int,
        *,
        route: str | None = None,
        times: int = 1,
        code: str | None = None,
        message: str = "",
        retry_after: float | None = None,
    ) -> None:
        """The next ``times`` calls (of ``route``, or any) answer this error."""
        self.script.add(Fault(route, status, code, message, retry_after=retry_after, remaining=times))

    def hang(self, seconds: float, *, route: str | None = None, times: int = 1, status: int = 0) -> None:
        """The next ``times`` calls wait ``seconds`` first (then answer, or fail ``status``)."""
        self.script.add(Fault(route, status, hang_seconds=seconds, remaining=times))

    def reject_content(self, *, route: str | None = None, times: int = 1) -> None:
        """The next calls are refused under the vendor's content policy (vendor format)."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget scripted faults and recorded calls."""
        self.script.clear()

    @property
    def calls(self) -> list[RecordedCall]:
        return list(self.script.calls)

    @property
    def aborted(self) -> list[str]:
        """Routes whose client went away while the fake was hanging (cancelled calls)."""
        return list(self.script.aborted)

    def count(self, route: str) -> int:
        return self.script.count(route)
