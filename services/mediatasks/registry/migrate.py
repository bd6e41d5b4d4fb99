"""Apply the registry's Alembic migrations (at registry start and by ``mediatasks migrate``)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

from mediatasks.core.db import create_sync_engine
from mediatasks.core.settings import Settings

log = logging.getLogger(__name__)


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (the newest by default); safe to run from
    several replicas."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    engine = create_sync_engine(settings)
    try:
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()
    log.info("database migrated to %s", revision)
