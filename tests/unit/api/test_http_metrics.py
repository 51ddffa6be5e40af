"""HTTP requests are counted under their route's template, never their raw path."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyexec.api.app import create_app
from pyexec.api.http_metrics import route_template
from pyexec.core.settings import load_settings


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> object:
    return create_app(load_settings(data_dir=Path(tmp_path_factory.mktemp("data"))))


def _scope(app: object, method: str, path: str) -> dict[str, object]:
    return {
        "type": "http",
        "app": app,
        "method": method,
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("POST", "/v1/jobs", "/v1/jobs"),
        ("GET", "/v1/jobs/3f2a9c0e-1111-4bbb-8ccc-123456789abc", "/v1/jobs/{job_id}"),
        ("GET", "/v1/jobs/abc/artifacts/plot%201.png", "/v1/jobs/{job_id}/artifacts/{name}"),
        ("GET", "/metrics", "/metrics"),
        ("GET", "/static/css/site.css", "/static/{path}"),
        # The path exists, the method does not (405): still the route's template.
        ("PATCH", "/v1/jobs", "/v1/jobs"),
        # Probes of random paths all land in one series.
        ("GET", "/wp-admin/install.php", "unmatched"),
        ("GET", "/v1/jobs/a/b/c/d/e", "unmatched"),
    ],
)
def test_route_template(app: object, method: str, path: str, template: str) -> None:
    assert route_template(_scope(app, method, path)) == template
