"""The app's start-up: it refuses a database whose schema is not this code's, and it sweeps
the half-written uploads a crash left behind."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from api.app import create_app
from core.migrate import SchemaOutOfDate, upgrade
from core.settings import load_settings
from core.storage import Storage


async def test_app_start_up_fails_on_an_unmigrated_database(tmp_path: Path) -> None:
    app = create_app(load_settings(data_dir=tmp_path))
    with pytest.raises(SchemaOutOfDate, match="run `pyexec migrate`"):
        async with app.router.lifespan_context(app):
            pass


async def test_start_up_deletes_uploads_a_crash_cut_off(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    await asyncio.to_thread(upgrade, settings.db_url)
    incoming = Storage(tmp_path).incoming_dir()
    incoming.mkdir(parents=True)
    crashed, receiving = incoming / "crashed.part", incoming / "receiving.part"
    crashed.write_bytes(b"x" * 1000)
    receiving.write_bytes(b"y" * 1000)
    yesterday = time.time() - 86_400
    os.utime(crashed, (yesterday, yesterday))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert not crashed.exists()
        assert receiving.exists()  # recent: perhaps another API process's upload in flight
