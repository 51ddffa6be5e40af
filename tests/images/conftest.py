"""The images are built once per session (images/build.sh; cached layers make it quick)."""

from __future__ import annotations

import pytest

from tests.support.podman import build_images


@pytest.fixture(scope="session", autouse=True)
def images() -> str:
    report = build_images()
    print(report)
    return report
