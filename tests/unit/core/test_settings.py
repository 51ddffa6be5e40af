from __future__ import annotations

import pytest

from core.settings import SettingsError, load_settings


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYEXEC_KERNEL_POOL_SIZE", "many")
    with pytest.raises(SettingsError, match="PYEXEC_KERNEL_POOL_SIZE"):
        load_settings()


def test_standard_names_and_driver_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = load_settings()
    assert settings.db_url == "postgresql+asyncpg://u@h/db"
    assert "sk-test" not in repr(settings)


def test_default_database_is_sqlite_in_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("PYEXEC_DATA_DIR", str(tmp_path))
    assert load_settings().db_url == f"sqlite+aiosqlite:///{tmp_path}/pyexec.db"


def test_redis_url_chooses_the_scaled_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert not load_settings().scaled_out
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6390/0")
    assert load_settings().scaled_out


def test_bad_redis_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "localhost:6379")
    with pytest.raises(SettingsError, match="REDIS_URL"):
        load_settings()


def test_worker_lease_has_a_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYEXEC_WORKER_LEASE_SECONDS", "0.1")
    with pytest.raises(SettingsError, match="PYEXEC_WORKER_LEASE_SECONDS"):
        load_settings()
