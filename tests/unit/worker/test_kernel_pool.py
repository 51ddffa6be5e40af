"""Which kernel backend the settings give, and with which sandbox."""

from pathlib import Path

import pytest

from pyexec.core.settings import SettingsError, load_settings
from pyexec.kernels import ForkServerLauncher, LocalLauncher
from pyexec.worker import kernel_pool
from pyexec.worker.kernel_pool import make_launcher, make_pool, sandbox_policy


def test_default_is_the_fork_server(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert isinstance(make_launcher(settings), ForkServerLauncher)
    pool = make_pool(settings)
    assert pool.work_root == tmp_path / "work"


def test_default_falls_back_to_local_where_forking_kernels_is_unsupported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(kernel_pool, "forkserver_support", lambda: (False, "not Linux"))
    assert isinstance(make_launcher(load_settings(data_dir=tmp_path)), LocalLauncher)
    assert "not Linux" in caplog.text


def test_asking_for_an_unsupported_fork_server_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kernel_pool, "forkserver_support", lambda: (False, "not Linux"))
    settings = load_settings(data_dir=tmp_path, kernel_backend="forkserver")
    with pytest.raises(SettingsError, match="PYEXEC_KERNEL_BACKEND=forkserver: not Linux"):
        make_launcher(settings)


def test_gateway_is_not_in_this_build(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="PYEXEC_KERNEL_BACKEND=gateway"):
        make_launcher(load_settings(data_dir=tmp_path, kernel_backend="gateway"))


def test_local_backend_is_sandboxed_too(tmp_path: Path) -> None:
    launcher = make_launcher(load_settings(data_dir=tmp_path, kernel_backend="local"))
    assert type(launcher) is LocalLauncher and launcher.sandbox is not None


def test_policy_follows_the_settings(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        kernel_uid_range="300000-300009",
        kernel_memory_mb=512,
        kernel_max_processes=64,
        kernel_sandbox="strict",
    )
    policy = sandbox_policy(settings)
    assert (policy.uid_first, policy.uid_count, policy.mode) == (300000, 10, "strict")
    assert policy.limits.memory_mb == 512 and policy.limits.processes == 64
    assert policy.hidden == (tmp_path,)
