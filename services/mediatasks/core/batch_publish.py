"""Publishing a batch of messages to JetStream, then awaiting all their acknowledgements.

nats.py's ``JetStreamContext.publish`` is a request: a future, a timer and (under
``gather``) a task for every message, which made up a good part of the outbox relay's
time. Here every message of a batch is sent at once with a reply subject under one
inbox this publisher subscribed to when it was first used, and the batch shares one
deadline. The acknowledgements are JetStream's ordinary ``PubAck`` JSON.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Mapping, Sequence

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import api
from nats.js.errors import APIError, NoStreamResponseError

# A JetStream publish no stream listens to is answered by the server with this status.
_NO_RESPONDERS = "503"

Message = tuple[str, bytes, Mapping[str, str]]


class BatchPublisher:
    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self._prefix: str | None = None
        self._waiting: dict[str, asyncio.Future[api.PubAck]] = {}
        self._tokens = itertools.count()

    async def _reply_prefix(self) -> str:
        if self._prefix is None:
            prefix = self._nc.new_inbox()
            # nats.py subscribes again by itself after a reconnect.
            await self._nc.subscribe(f"{prefix}.*", cb=self._on_reply)
            self._prefix = prefix
        return self._prefix

    async def _on_reply(self, msg: Msg) -> None:
        future = self._waiting.pop(msg.subject.rpartition(".")[2], None)
        if future is None or future.done():
            return  # given up on already
        if msg.headers and msg.headers.get(api.Header.STATUS) == _NO_RESPONDERS:
            future.set_exception(NoStreamResponseError())
            return
        try:
            answer = json.loads(msg.data)
        except ValueError:
            future.set_exception(APIError(description=f"an unreadable acknowledgement: {msg.data[:200]!r}"))
            return
        if "error" in answer:
            try:
                APIError.from_error(answer["error"])  # raises the error's own class
            except APIError as refusal:
                future.set_exception(refusal)
            if not future.done():
                future.set_exception(APIError(description=str(answer["error"])))
        else:
            future.set_result(api.PubAck.from_response(answer))

    async def publish(self, messages: Sequence[Message], timeout: float) -> list[api.PubAck | BaseException]:
        """Each message's acknowledgement, or the exception that kept it from being
        stored (refused by NATS or JetStream, or not acknowledged within ``timeout``)."""
        prefix = await self._reply_prefix()
        loop = asyncio.get_running_loop()
        outcomes: list[api.PubAck | BaseException | None] = [None] * len(messages)
        sent: list[tuple[int, str, asyncio.Future[api.PubAck]]] = []
        try:
            for index, (subject, payload, headers) in enumerate(messages):
                token = str(next(self._tokens))
                future: asyncio.Future[api.PubAck] = loop.create_future()
                self._waiting[token] = future
                try:
                    await self._nc.publish(subject, payload, reply=f"{prefix}.{token}", headers=dict(headers))
                except Exception as exc:  # over max_payload, or no connection to buffer on
                    self._waiting.pop(token, None)
                    outcomes[index] = exc
                    continue
                sent.append((index, token, future))
            if sent:
                await asyncio.wait([future for _, _, future in sent], timeout=timeout)
        finally:
            for _, token, future in sent:
                if not future.done():
                    self._waiting.pop(token, None)
                    future.cancel()
        for index, _, future in sent:
            if future.cancelled():
                outcomes[index] = TimeoutError(f"no acknowledgement from JetStream within {timeout} s")
            else:
                outcomes[index] = future.exception() or future.result()
        return [RuntimeError("not sent") if outcome is None else outcome for outcome in outcomes]
