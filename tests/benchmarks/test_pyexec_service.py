"""The benchmark's handling of `pyexec serve` and of jobs, against a stand-in service."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.benchmarks.pyexec_service import measure_pyexec_http
from tests.benchmarks.results import Goal, Ratio, Row, Samples, format_report

FAKE = [sys.executable, str(Path(__file__).with_name("fake_pyexec.py"))]


async def test_measures_jobs_against_a_service_speaking_the_contract() -> None:
    samples = await measure_pyexec_http(3, pyexec=FAKE)

    assert len(samples.values) == 3
    assert all(0 < v < 5 for v in samples.values)


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
