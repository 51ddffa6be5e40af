"""Reading a PyExec `/metrics` page in tests: the samples by name and labels, summed over
series, and scraped again until a counter has moved."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def get(url: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(url, headers=headers, timeout=30)


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(url: str, token: str | None = None) -> Samples:
    response = get(url, token)
    assert response.status_code == 200, response.text
    return parse(response.text)


def value(found: Samples, name: str, **labels: str) -> float:
    """The sum of `name` over the series that have `labels` (0 if there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and wanted <= ls)


def wait_until(
    read: Callable[[], Samples], check: Callable[[Samples], bool], timeout: float = 60
) -> Samples:
    """Read until `check` holds (a job's counters move just after its row turns final)."""
    deadline = time.monotonic() + timeout
    while True:
        found = read()
        if check(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)
