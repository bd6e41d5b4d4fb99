"""The one place that creates database engines."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy
from psycopg.types.array import ListBinaryDumper
from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from mediatasks.core.settings import Settings


def async_url(url: str) -> str:
    """Accept postgres://, postgresql:// or postgresql+psycopg:// and use psycopg 3."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError("MEDIATASKS_DATABASE_URL must be a postgresql:// URL")


# A pooled connection idle longer than this is pinged before use; one in steady use is
# not: the ping is a round trip (and an autocommit toggle) per transaction, about a tenth
# of the registry's CPU per job when every checkout paid it. A connection that broke while
# in use fails its statement, SQLAlchemy then invalidates the whole pool, and the caller
# gets UNAVAILABLE (retryable) as with any outage.
PING_AFTER_IDLE_SECONDS = 1.0


def ping_idle_connections(engine: sqlalchemy.Engine, idle_seconds: float = PING_AFTER_IDLE_SECONDS) -> None:
    """Ping a pooled connection at checkout only when it sat idle over ``idle_seconds``."""

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool drops this connection and checks out (or opens) another.
            raise exc.DisconnectionError(f"pooled connection failed its ping: {error}") from error


def send_lists_binary(engine: sqlalchemy.Engine) -> None:
    """Send list parameters (the arrays a change's rows travel in) in PostgreSQL's binary
    array format. SQLAlchemy's ``%(name)s`` placeholders let psycopg pick the format, and
    it picks text, whose list dumper quotes every element in Python: an event payload's
    bytea became hex and then array-escaped. That was an eighth of the registry's CPU per
    job; the binary dumper packs the same arrays some forty times faster. Every array
    parameter is cast in its statement (``CAST(:ids AS uuid[])``), so the element types
    psycopg sends (int8 for a Python int, text for a str) are converted there."""

    @event.listens_for(engine, "connect")
    def _connected(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.driver_connection.adapters.register_dumper(list, ListBinaryDumper)


def create_engine(settings: Settings) -> AsyncEngine:
    if not settings.database_url:
        raise RuntimeError("set MEDIATASKS_DATABASE_URL (postgresql+psycopg://user@host:port/db)")
    engine = create_async_engine(
        async_url(settings.database_url),
        # Burst connections are kept once opened (no overflow): an overflow connection is
        # closed at checkin, so a burst past the pool opened and closed a PostgreSQL
        # backend (a fork and its catalog warm-up) per transaction.
        pool_size=settings.db_pool_size + settings.db_pool_size // 2,
        max_overflow=0,
        # The most recently used connection first: a steady load keeps reusing a few warm
        # backends (their plans and psycopg's prepared statements made), where the
        # default's rotation through the whole pool spread it over all of them (and left
        # each idle long enough to be pinged). PostgreSQL's CPU per job at a steady
        # 100 submits/s: 2.0-2.3 ms against 2.3-2.6.
        pool_use_lifo=True,
        pool_timeout=10,
        connect_args={"connect_timeout": 10},
    )
    ping_idle_connections(engine.sync_engine)
    send_lists_binary(engine.sync_engine)
    return engine


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` whose connections run each statement as its own transaction: no BEGIN,
    no COMMIT, and no ROLLBACK at check-in (round trips a single statement need not pay)."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def create_sync_engine(settings: Settings) -> sqlalchemy.Engine:
    """A synchronous engine, for Alembic migrations."""
    return sqlalchemy.create_engine(async_url(settings.database_url), connect_args={"connect_timeout": 10})


class HeldConnection:
    """One pooled connection kept checked out by a writer that runs one statement or
    transaction at a time (the registry's group commit of submits, its shared
    transactions): a checkout and check-in per use (the pool's bookkeeping, the ping check,
    an autocommit engine's isolation level set and reset) were about a twentieth of the
    registry's CPU at a steady 100 submits/s, where every use is alone.

    The connection goes back to the pool once it sat unused for ``idle_seconds`` (the
    pool then pings it before its next use, as any idle one), is dropped after a use that
    raised (the next use checks out a sound one), and is closed when its engine is
    disposed. Uses must not overlap.
    """

    def __init__(self, engine: AsyncEngine, idle_seconds: float = PING_AFTER_IDLE_SECONDS) -> None:
        self._engine = engine
        self._idle_seconds = idle_seconds
        self._conn: AsyncConnection | None = None
        self._in_use = False
        self._release_timer: asyncio.TimerHandle | None = None
        self._releasing: set[asyncio.Task[None]] = set()
        # Whoever disposes the engine (a service stopping, a test) need not know of this
        # connection: a checked-out one outlived its pool and was dropped by the garbage
        # collector. (An engine with other options shares its parent's pool and disposal.)
        sync_engine = engine.sync_engine
        event.listen(getattr(sync_engine, "_proxied", sync_engine), "engine_disposed", self._on_engine_disposed)

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        if self._in_use:
            raise RuntimeError("a held connection's uses must not overlap")
        self._in_use = True
        self._cancel_release()
        try:
            if self._conn is None:
                self._conn = await self._engine.connect()
            conn = self._conn
            try:
                yield conn
            except BaseException:
                self._conn = None
                await asyncio.shield(conn.close())
                raise
        finally:
            self._in_use = False
            if self._conn is not None:
                self._release_timer = asyncio.get_running_loop().call_later(self._idle_seconds, self._release)

    def _cancel_release(self) -> None:
        if self._release_timer is not None:
            self._release_timer.cancel()
            self._release_timer = None

    def _take(self) -> AsyncConnection | None:
        """The kept connection, no longer kept."""
        self._cancel_release()
        conn, self._conn = self._conn, None
        return conn

    def _release(self) -> None:
        # The timer runs only between uses: a use cancels it first.
        conn = self._take()
        if conn is not None:
            closing = asyncio.ensure_future(conn.close())
            self._releasing.add(closing)
            closing.add_done_callback(self._releasing.discard)

    def _on_engine_disposed(self, _engine: sqlalchemy.Engine) -> None:
        # Called inside AsyncEngine.dispose's greenlet, where the synchronous close may
        # wait for the driver.
        conn = self._take()
        if conn is not None and conn.sync_connection is not None:
            conn.sync_connection.invalidate()

    async def close(self) -> None:
        """Give the connection back now (a store shutting down)."""
        conn = self._take()
        if conn is not None:
            await conn.close()
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)
