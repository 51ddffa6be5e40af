"""The app itself refuses to serve on a database whose schema is not this code's."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.app import create_app
from core.migrate import SchemaOutOfDate
from core.settings import load_settings


async def test_app_start_up_fails_on_an_unmigrated_database(tmp_path: Path) -> None:
    app = create_app(load_settings(data_dir=tmp_path))
    with pytest.raises(SchemaOutOfDate, match="run `pyexec migrate`"):
        async with app.router.lifespan_context(app):
            pass
