"""The one place that creates database engines."""

from __future__ import annotations

import sqlalchemy
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from mediatasks.core.settings import Settings


def async_url(url: str) -> str:
    """Accept postgres://, postgresql:// or postgresql+psycopg:// and use psycopg 3."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError("MEDIATASKS_DATABASE_URL must be a postgresql:// URL")


def create_engine(settings: Settings) -> AsyncEngine:
    if not settings.database_url:
        raise RuntimeError("set MEDIATASKS_DATABASE_URL (postgresql+psycopg://user@host:port/db)")
    return create_async_engine(
        async_url(settings.database_url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size // 2,
        pool_pre_ping=True,
        pool_timeout=10,
        connect_args={"connect_timeout": 10},
    )


def create_sync_engine(settings: Settings) -> sqlalchemy.Engine:
    """A synchronous engine, for Alembic migrations."""
    return sqlalchemy.create_engine(async_url(settings.database_url), connect_args={"connect_timeout": 10})
