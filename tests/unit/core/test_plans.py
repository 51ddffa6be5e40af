from __future__ import annotations

import pytest

from pyexec.core.models import Plan
from pyexec.core.plans import MB, plan_limits, plan_table
from pyexec.core.settings import SettingsError, load_settings


def test_default_table_is_the_documented_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYEXEC_PLANS", raising=False)
    rows = [
        (
            p.plan.value,
            p.requests_per_day,
            p.max_running_jobs,
            p.max_job_timeout,
            p.max_upload_bytes,
        )
        for p in plan_table(load_settings())
    ]
    assert rows == [
        ("free", 100, 1, 60, 10 * MB),
        ("pro", 10_000, 5, 600, 200 * MB),
        ("business", None, 20, 3_600, 2_000 * MB),
    ]


def test_overrides_replace_only_what_they_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PYEXEC_PLANS",
        '{"free": {"requests_per_day": 500, "max_job_timeout": 120}, '
        '"pro": {"requests_per_day": null}}',
    )
    settings = load_settings()
    free = plan_limits(settings, "free")
    assert (free.requests_per_day, free.max_job_timeout, free.max_running_jobs) == (500, 120, 1)
    pro = plan_limits(settings, Plan.pro)
    assert pro.unlimited and pro.max_running_jobs == 5
    assert plan_limits(settings, "business").max_job_timeout == 3_600


@pytest.mark.parametrize(
    "value",
    [
        '{"gold": {"requests_per_day": 1}}',
        '{"free": {"requests_per_day": 0}}',
        '{"free": {"max_running_jobs": null}}',
        '{"free": {"requests": 5}}',
        "not json",
    ],
)
def test_bad_overrides_name_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PYEXEC_PLANS", value)
    with pytest.raises(SettingsError, match="PYEXEC_PLANS"):
        load_settings()
