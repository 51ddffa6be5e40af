"""The benchmark harness (`make bench`), run with the tests: its handling of `pyexec serve` and
of jobs against a stand-in service, its report, and the CPU meter that explains missed goals."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.benchmarks.cpu import CpuMeter
from tests.benchmarks.fake_pyexec import REFILL_SECONDS
from tests.benchmarks.pyexec_service import measure_pyexec_http, pool_counts
from tests.benchmarks.results import Cost, Goal, Ratio, Row, Samples, format_report

FAKE = [sys.executable, str(Path(__file__).parents[1] / "benchmarks" / "fake_pyexec.py")]


async def test_measures_jobs_against_a_service_speaking_the_contract() -> None:
    started = time.monotonic()
    samples = await measure_pyexec_http(3, pyexec=FAKE)

    assert len(samples.values) == 3
    assert all(0 < v < 5 for v in samples.values)
    # Each measured job waited for the stand-in's pool to show itself refilled.
    assert time.monotonic() - started >= 3 * REFILL_SECONDS


def test_the_pool_gauge_is_read_by_state() -> None:
    exposition = (
        "# HELP pyexec_kernel_pool_kernels Kernels of this process's pool by state\n"
        'pyexec_kernel_pool_kernels{state="idle"} 2.0\n'
        'pyexec_kernel_pool_kernels{state="starting"} 1.0\n'
        'pyexec_kernel_pool_kernels{state="leased"} 0.0\n'
        'pyexec_kernel_start_seconds_count{backend="forkserver"} 7.0\n'
    )
    assert pool_counts(exposition) == {"idle": 2, "starting": 1, "leased": 0}


async def test_a_failed_job_stops_the_benchmark(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_PYEXEC_JOB_STATUS", "failed")
    with pytest.raises(RuntimeError, match="ended failed"):
        await measure_pyexec_http(1, pyexec=FAKE)


async def test_a_server_that_dies_is_reported_with_its_log() -> None:
    with pytest.raises(RuntimeError, match="exited with 2"):
        await measure_pyexec_http(1, pyexec=[*FAKE, "crash"])


def test_report_shows_medians_and_ratio_verdicts() -> None:
    rows = [
        Row("a", "floor", Samples([0.010, 0.012, 0.011])),
        Row("b", "service", Samples([0.020, 0.030, 0.025])),
    ]
    report = format_report(rows, [Ratio("b", "a", "<=", 2.5), Ratio("c", "b", ">=", 40)])

    assert "11.0 ms" in report
    assert "2.27" in report and "met" in report
    assert "not measured" in report


def test_report_checks_absolute_goals_in_their_unit() -> None:
    rows = [
        Row("e", "fork", Samples([0.050, 0.055, 0.070])),
        Row("f", "throughput", Samples([18.0, 19.0, 25.0], unit="jobs/s")),
    ]
    goals = [
        Goal("e", "<=", 0.060),
        Goal("f", ">=", 20, unit="jobs/s"),
        Goal("h", "<=", 25, unit="MB"),
    ]
    report = format_report(rows, [], goals)
    assert "55.0 ms" in report and "<= 60.0 ms  met" in report
    assert "19.0 jobs/s" in report and "MISSED" in report
    assert ">= 20.0 jobs/s" in report and "<= 25.0 MB  not measured" in report


def test_a_missed_goal_is_explained_by_the_cpu_its_work_costs() -> None:
    cost = Cost({"service": 0.050, "kernels": 0.100}, cores=2)
    rows = [
        Row("b", "job", Samples([0.090, 0.080, 0.100], cost=cost)),
        Row("f", "throughput", Samples([10.0, 11.0, 12.0], unit="jobs/s", cost=cost)),
        Row("e", "start", Samples([0.020], cost=Cost({"kernel": 0.015}, per="start"))),
    ]
    goals = [Goal("b", "<=", 0.025), Goal("f", ">=", 25, unit="jobs/s"), Goal("e", "<=", 0.030)]
    lines = format_report(rows, [], goals).splitlines()
    (b_floor,) = [line for line in lines if "150.0 ms of CPU per job" in line and "goal's" in line]
    assert "service 50.0 ms, kernels 100.0 ms" in b_floor
    (f_floor,) = [line for line in lines if "allow at most" in line]
    assert "at most 13.3 jobs/s" in f_floor and "needs 80.0 ms per job" in f_floor
    assert not [line for line in lines if "per start" in line]  # (e) met: nothing to explain


def test_a_missed_ratio_is_explained_by_the_measured_side() -> None:
    rows = [
        Row("a", "floor", Samples([0.010])),
        Row("b", "job", Samples([0.040], cost=Cost({"service": 0.030, "kernel": 0.020}))),
        Row("c", "papermill", Samples([1.0])),
        Row("l", "scaled", Samples([0.070], cost=Cost({"api": 0.020, "worker": 0.030}))),
    ]
    ratios = [
        Ratio("b", "a", "<=", 5),  # met: nothing to explain
        Ratio("c", "b", ">=", 30),  # only b was measured: b must shrink
        Ratio("l", "b", "<=", 1.3),  # both were: the numerator must shrink
    ]
    lines = format_report(rows, ratios).splitlines()
    explained = [line.strip() for line in lines if line.startswith("    ")]
    assert explained == [
        "needs (b) <= 33.3 ms; floor: 50.0 ms of CPU per job (service 30.0 ms, kernel 20.0 ms)"
        ": more CPU than that whole time",
        "needs (l) <= 52.0 ms; floor: 50.0 ms of CPU per job (api 20.0 ms, worker 30.0 ms)",
    ]


def test_the_cpu_meter_counts_descendants_that_ended_and_were_waited_for() -> None:
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    grandchild = [sys.executable, "-c", burn]
    child = f"import subprocess; subprocess.run({grandchild!r}, check=True)"
    meter = CpuMeter()
    meter.start()
    subprocess.run([sys.executable, "-c", child], check=True)
    meter.stop()
    assert meter.below >= 0.3  # the grandchild's burn, through the child's children_*
    assert meter.own < meter.below
