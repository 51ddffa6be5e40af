from __future__ import annotations

import pytest

from pyexec.core.settings import SettingsError, load_settings


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


def test_kernel_defaults_are_the_fork_server_with_a_sandbox(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("PYEXEC_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.kernel_backend == "forkserver" and settings.kernel_sandbox == "auto"
    assert settings.kernel_uids == range(200000, 201000)
    assert settings.work_root == tmp_path / "work"
    monkeypatch.setenv("PYEXEC_KERNEL_WORK_ROOT", str(tmp_path / "elsewhere"))
    assert load_settings().work_root == tmp_path / "elsewhere"


@pytest.mark.parametrize("value", ["0-10", "200000-199999", "abc", "1000-", "200000-4294967295"])
def test_bad_uid_range_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PYEXEC_KERNEL_UID_RANGE", value)
    with pytest.raises(SettingsError, match="PYEXEC_KERNEL_UID_RANGE"):
        load_settings()


def test_uid_range_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYEXEC_KERNEL_UID_RANGE", "300000")
    assert load_settings().kernel_uids == range(300000, 300001)
