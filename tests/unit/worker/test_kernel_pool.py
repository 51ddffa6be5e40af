"""Which kernel backend the settings give, and with which sandbox."""

from pathlib import Path

import pytest

from pyexec.core.settings import SettingsError, load_settings
from pyexec.kernels import ForkServerLauncher, GatewayLauncher, KernelStartError, LocalLauncher
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


def test_the_gateway_backend_needs_the_gateways_url(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="PYEXEC_GATEWAY_URL: PYEXEC_KERNEL_BACKEND=gateway"):
        make_launcher(load_settings(data_dir=tmp_path, kernel_backend="gateway"))


async def test_the_gateway_backend_follows_the_settings(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        kernel_backend="gateway",
        gateway_url="https://eg.example:8888/base/",
        gateway_token="s3cret",
        gateway_kernel_name="spec",
        gateway_username="analyst",
        gateway_worker_id="worker-7",
        gateway_kernel_env={"KERNEL_CPUS": "2"},
        gateway_kernel_work_root="/shared/work",
        kernel_memory_mb=512,
        kernel_start_timeout=90,
    )
    launcher = make_launcher(settings)
    assert isinstance(launcher, GatewayLauncher)
    assert (launcher.url, launcher.kernel_name, launcher.username) == (
        "https://eg.example:8888/base",
        "spec",
        "analyst",
    )
    assert launcher.worker_id == "worker-7" and launcher.launch_timeout == 90
    # The pool makes its kernels' work dirs in a directory of its own.
    env = launcher._kernel_env("k-id", tmp_path / "work" / "pool-1" / "abc")
    assert env["KERNEL_MEMORY_LIMIT"] == "512Mi" and env["KERNEL_CPUS"] == "2"
    assert env["KERNEL_WORKING_DIR"] == "/shared/work/pool-1/abc"
    assert env["KERNEL_PYEXEC_WORKER"] == "worker-7" and env["KERNEL_USERNAME"] == "analyst"
    assert env["KERNEL_LAUNCH_TIMEOUT"] == "90"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(launcher.isolation.as_dict())
    await launcher.close()


async def test_the_kernelspecs_memory_limit_stands_unless_the_worker_sets_one(
    tmp_path: Path,
) -> None:
    # A request's KERNEL_* values override the kernelspec's: the default 2048 MB must not.
    settings = load_settings(data_dir=tmp_path, kernel_backend="gateway", gateway_url="http://eg")
    launcher = make_launcher(settings)
    assert isinstance(launcher, GatewayLauncher)
    assert "KERNEL_MEMORY_LIMIT" not in launcher._kernel_env("k-id", tmp_path / "k")
    await launcher.close()


def test_a_shared_volume_is_where_the_pools_work_dirs_are(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        kernel_backend="gateway",
        gateway_url="http://eg",
        gateway_kernel_work_root="/shared",
    )
    launcher = make_launcher(settings)
    assert isinstance(launcher, GatewayLauncher)
    with pytest.raises(KernelStartError, match="not on the shared volume"):
        launcher._kernel_env("k-id", tmp_path / "elsewhere" / "k")


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("gateway_url", "ftp://eg", "PYEXEC_GATEWAY_URL"),
        ("gateway_url", "http://user:pw@eg", "PYEXEC_GATEWAY_URL"),
        ("gateway_kernel_env", {"PATH": "/x"}, "PYEXEC_GATEWAY_KERNEL_ENV"),
        ("gateway_kernel_env", {"KERNEL_X": "x" * 5000}, "PYEXEC_GATEWAY_KERNEL_ENV"),
        ("gateway_kernel_work_root", "relative/dir", "PYEXEC_GATEWAY_KERNEL_WORK_ROOT"),
        ("gateway_request_timeout", 0, "PYEXEC_GATEWAY_REQUEST_TIMEOUT"),
    ],
)
def test_bad_gateway_settings_name_their_variable(
    tmp_path: Path, field: str, value: object, variable: str
) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings(data_dir=tmp_path, **{field: value})


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
