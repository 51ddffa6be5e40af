"""Running cells in real ipykernel processes: outputs, errors, timeouts, deaths."""

import asyncio
import time
from typing import Any

import pytest

from pyexec.kernels import Kernel, KernelDiedError, KernelPool
from tests.integration.kernels.conftest import GATEWAY_SHUTDOWN_WAIT
from tests.support.wedged import withhold_replies

pytestmark = pytest.mark.asyncio(loop_scope="module")

# The gateway does not say how a kernel process ended, only that its restarter found it dead.
GATEWAY_DEATH = "kernel died (the gateway restarted it)"


def backend(pool: KernelPool) -> str:
    return str(getattr(pool.launcher, "backend", ""))


async def test_expression_gives_execute_result_and_timing(shared_pool: KernelPool) -> None:
    async with shared_pool.lease() as kernel:
        ex = await kernel.execute("x = 20\nx * 2 + 2", timeout=10)

    assert ex.status == "ok" and ex.error is None
    assert ex.execution_count == 1  # the silent warm-up did not count
    assert ex.outputs == [
        {
            "output_type": "execute_result",
            "execution_count": 1,
            "data": {"text/plain": "42"},
            "metadata": {},
        }
    ]
    assert list(ex.timing) == [
        "iopub.status.busy",
        "iopub.execute_input",
        "shell.execute_reply",
        "iopub.status.idle",
    ]
    assert all(v.endswith("Z") and "T" in v for v in ex.timing.values())
    assert ex.started_at.tzinfo is not None and ex.finished_at >= ex.started_at
    assert 0 <= ex.duration_ms < 5000


async def test_prints_become_merged_streams_and_reach_on_output(shared_pool: KernelPool) -> None:
    seen: list[dict[str, Any]] = []
    async with shared_pool.lease() as kernel:
        ex = await kernel.execute(
            "import sys\nprint('a')\nprint('b')\nprint('e', file=sys.stderr)",
            timeout=10,
            on_output=seen.append,
        )
    assert ex.status == "ok"
    stdout = [o for o in ex.outputs if o["output_type"] == "stream" and o["name"] == "stdout"]
    assert len(stdout) == 1 and stdout[0]["text"] == "a\nb\n"
    assert "".join(o["text"] for o in seen if o.get("name") == "stdout") == "a\nb\n"
    assert any(o.get("name") == "stderr" and o["text"] == "e\n" for o in ex.outputs)


async def test_async_on_output_is_awaited(shared_pool: KernelPool) -> None:
    seen: list[str] = []

    async def on_output(output: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        seen.append(output["output_type"])

    async with shared_pool.lease() as kernel:
        await kernel.execute("print(1)\n1", timeout=10, on_output=on_output)
    assert seen == ["stream", "execute_result"]


async def test_dataframe_has_html_and_table_schema(shared_pool: KernelPool) -> None:
    async with shared_pool.lease() as kernel:
        ex = await kernel.execute("pd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})", timeout=10)
    assert ex.status == "ok"
    (result,) = ex.outputs
    assert result["output_type"] == "execute_result"
    assert {"text/plain", "text/html", "application/vnd.dataresource+json"} <= set(result["data"])
    assert result["data"]["application/vnd.dataresource+json"]["schema"]["fields"]


async def test_plot_gives_png_display_data(shared_pool: KernelPool) -> None:
    async with shared_pool.lease() as kernel:
        ex = await kernel.execute("plt.plot([1, 2, 3], [3, 1, 2]);", timeout=20)
    assert ex.status == "ok"
    images = [o for o in ex.outputs if o["output_type"] == "display_data"]
    assert len(images) == 1 and images[0]["data"]["image/png"]
    assert "metadata" in images[0]


async def test_error_in_user_code_is_returned_with_its_line(shared_pool: KernelPool) -> None:
    async with shared_pool.lease() as kernel:
        ex = await kernel.execute("x = 1\ny = 0\nx / y", timeout=10)
        after = await kernel.execute("x + 1", timeout=10)

    assert ex.status == "error" and ex.error is not None
    assert ex.error.ename == "ZeroDivisionError"
    assert ex.error.evalue == "division by zero"
    assert ex.error.message == "ZeroDivisionError: division by zero (line 3)"
    assert ex.error.traceback
    assert ex.outputs[-1]["output_type"] == "error"
    assert after.status == "ok" and after.execution_count == 2


async def test_sys_exit_is_reported_not_hung(shared_pool: KernelPool) -> None:
    async with shared_pool.lease() as kernel:
        ex = await kernel.execute("import sys\nsys.exit(3)", timeout=10)
        after = await kernel.execute("1 + 1", timeout=10)
    assert ex.status == "error" and ex.error is not None and ex.error.ename == "SystemExit"
    assert after.status == "ok"


async def test_a_reply_the_kernel_withholds_is_nudged_out(shared_pool: KernelPool) -> None:
    async with shared_pool.lease() as kernel:
        code = withhold_replies(until_next_request=True) + "'held'"
        held = await kernel.execute(code, timeout=30)
        after = await kernel.execute("6 * 7", timeout=30)
    assert held.status == "ok" and held.outputs[0]["data"]["text/plain"] == "'held'"
    assert after.status == "ok" and after.outputs[0]["data"]["text/plain"] == "42"
    assert kernel.nudged_replies == 2


@pytest.mark.parametrize("code", ["while True: pass", "import time\ntime.sleep(10**6)"])
async def test_timeout_interrupts_and_kernel_survives(shared_pool: KernelPool, code: str) -> None:
    async with shared_pool.lease() as kernel:
        t0 = time.monotonic()
        ex = await kernel.execute(code, timeout=2)
        elapsed = time.monotonic() - t0
        after = await kernel.execute("'still here'", timeout=10)

    assert ex.status == "timeout" and ex.error is not None
    assert ex.error.message == "cell timed out after 2 s"
    assert 2 <= elapsed < 2 + shared_pool.interrupt_grace + 30  # bounded, however loaded
    assert after.status == "ok"
    async with shared_pool.lease() as kernel:
        assert (await kernel.execute("1", timeout=10)).status == "ok"


async def test_kernel_ignoring_interrupt_is_killed(shared_pool: KernelPool) -> None:
    code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(10**6)"
    async with shared_pool.lease() as kernel:
        t0 = time.monotonic()
        ex = await kernel.execute(code, timeout=1)
        elapsed = time.monotonic() - t0
        assert not await kernel.is_alive()
        with pytest.raises(KernelDiedError):
            await kernel.execute("1", timeout=10)

    assert ex.status == "timeout" and ex.error is not None
    assert ex.error.message.startswith("cell timed out after 1 s")
    # A gateway answers the kill (its DELETE) once the kernel is gone, which takes its
    # shutdown wait for a kernel that ignores the shutdown request too.
    killing = GATEWAY_SHUTDOWN_WAIT if backend(shared_pool) == "gateway" else 0
    assert elapsed < 1 + shared_pool.interrupt_grace + 30 + killing  # bounded, however loaded


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("import os\nos._exit(1)", "kernel died (exit code 1)"),
        ("import ctypes\nctypes.string_at(0)", "kernel died (signal SIGSEGV)"),
        (
            "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
            "kernel died: killed (SIGKILL), possibly out of memory",
        ),
    ],
)
async def test_death_mid_cell_is_detected_promptly(
    shared_pool: KernelPool, code: str, message: str
) -> None:
    async with shared_pool.lease() as kernel:
        t0 = time.monotonic()
        ex = await kernel.execute(code, timeout=30)
        elapsed = time.monotonic() - t0
        with pytest.raises(KernelDiedError, match="kernel died"):
            await kernel.execute("1", timeout=10)

    assert ex.status == "died" and ex.error is not None
    assert ex.error.message == (GATEWAY_DEATH if backend(shared_pool) == "gateway" else message)
    assert elapsed < 2


async def _running(kernel: Kernel, code: str) -> asyncio.Task[Any]:
    task = asyncio.create_task(kernel.execute(code, timeout=60))
    await asyncio.sleep(0.5)
    assert not task.done()
    return task


async def test_cancelling_execute_interrupts_and_reraises(shared_pool: KernelPool) -> None:
    async with shared_pool.lease() as kernel:
        task = await _running(kernel, "import time\ntime.sleep(10**6)")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        t0 = time.monotonic()
        after = await kernel.execute("'usable'", timeout=10)

    assert after.status == "ok"
    assert after.outputs[0]["data"]["text/plain"] == "'usable'"
    assert time.monotonic() - t0 < 2  # the sleep was interrupted, not waited out


async def test_interrupt_stops_the_running_cell(shared_pool: KernelPool) -> None:
    async with shared_pool.lease() as kernel:
        task = await _running(kernel, "while True: pass")
        await kernel.interrupt()
        ex = await asyncio.wait_for(task, timeout=5)
    assert ex.status == "error" and ex.error is not None
    assert ex.error.ename == "KeyboardInterrupt"


async def test_language_info_and_kernelspec(shared_pool: KernelPool) -> None:
    async with shared_pool.lease() as kernel:
        assert kernel.language_info["name"] == "python"
        assert kernel.language_info["version"].startswith("3.")
        expected = {"name": "pyexec-python", "display_name": "Python 3 (PyExec)"}
        if backend(shared_pool) == "gateway":
            # As the gateway's kernelspec names it.
            expected = {
                "name": "pyexec-gateway-local",
                "display_name": "Python 3 (PyExec, gateway)",
            }
        assert kernel.kernelspec == {**expected, "language": "python"}
