"""Apply the registry's Alembic migrations (at registry start and by ``mediatasks migrate``)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

from mediatasks.core.db import create_sync_engine
from mediatasks.core.settings import Settings

log = logging.getLogger(__name__)


def upgrade(settings: Settings) -> None:
    """Migrate the database to the newest revision; safe to run from several replicas."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    engine = create_sync_engine(settings)
    try:
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    log.info("database migrated to head")
