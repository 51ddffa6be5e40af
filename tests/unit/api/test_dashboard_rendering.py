"""The dashboard's rendering of untrusted job outputs, its SSE frames, charts and throttle keys,
without a server: what reaches a page must be escaped or sanitised."""

from __future__ import annotations

import base64
from datetime import date, timedelta

import pytest

from pyexec.api.dashboard.charts import bar_chart, nice_ceiling
from pyexec.api.dashboard.live import render_event, sse_frame
from pyexec.api.dashboard.outputs import (
    TABLE_ROWS_SHOWN,
    cell_text,
    clean_html,
    job_output_view,
    markdown_html,
    notebook_output_view,
)
from pyexec.api.dashboard.sessions import safe_next
from pyexec.api.dashboard.templating import templates
from pyexec.api.dashboard.throttle import ip_key
from tests.support.html_checks import assert_inert, elements

HOSTILE_HTML = (
    '<script>alert("s")</script><img src=x onerror="alert(1)">'
    '<a href="javascript:alert(2)">link</a><svg onload="alert(3)"><script>alert(4)</script></svg>'
    '<iframe src="https://evil.example"></iframe><form action="https://evil.example"><input></form>'
    '<p style="color:red" onclick="alert(5)">text</p><style>body{display:none}</style>'
)


def _render(view: object) -> str:
    macro = templates.env.get_template("_macros.html").module.output  # type: ignore[attr-defined]
    return str(macro(view))


def _assert_inert(html: str) -> None:
    assert_inert(html)
    assert not any(tag == "svg" for tag, _ in elements(html))


def test_html_outputs_lose_script_handlers_and_js_urls() -> None:
    html = str(clean_html(HOSTILE_HTML))
    _assert_inert(html)
    assert "<p>text</p>" in html and ">link</a>" in html


def test_markdown_escapes_raw_html_and_neutralises_js_links() -> None:
    html = str(
        markdown_html("**hi** <script>alert(1)</script> [x](javascript:alert(1)) " + HOSTILE_HTML)
    )
    _assert_inert(html)
    assert "<strong>hi</strong>" in html and "&lt;script&gt;" in html


def test_markdown_tables_align_with_classes_not_styles() -> None:
    html = str(markdown_html("| a | b |\n|---|--:|\n| 1 | 2 |"))
    assert '<td class="align-right">2</td>' in html and "style" not in html


@pytest.mark.parametrize(
    "output",
    [
        {"cell": 1, "type": "html", "html": HOSTILE_HTML},
        {"cell": 1, "type": "markdown", "text": HOSTILE_HTML},
        {"cell": 1, "type": "text", "name": "stdout", "text": HOSTILE_HTML},
        {"cell": 1, "type": "json", "json": {"x": HOSTILE_HTML}},
        {
            "cell": 1,
            "type": "error",
            "ename": "<script>",
            "evalue": HOSTILE_HTML,
            "traceback": HOSTILE_HTML,
        },
        {
            "cell": 1,
            "type": "table",
            "columns": [HOSTILE_HTML],
            "rows": [[HOSTILE_HTML]],
            "total_rows": 1,
        },
        {"cell": 1, "type": "image", "name": '"><script>alert(1)</script>.png', "url": "/v1/x"},
        {"cell": 1, "type": "mystery<script>", "x": 1},
    ],
    ids=lambda o: o["type"][:10],
)
def test_every_structured_output_renders_inert(output: dict) -> None:
    _assert_inert(_render(job_output_view("job-1", output)))


@pytest.mark.parametrize(
    "output",
    [
        {"output_type": "stream", "name": "stdout", "text": HOSTILE_HTML},
        {"output_type": "error", "ename": "X", "evalue": HOSTILE_HTML, "traceback": [HOSTILE_HTML]},
        {"output_type": "display_data", "data": {"text/html": HOSTILE_HTML}, "metadata": {}},
        {"output_type": "display_data", "data": {"text/markdown": HOSTILE_HTML}, "metadata": {}},
        {
            "output_type": "display_data",
            "data": {"application/javascript": "alert(1)"},
            "metadata": {},
        },
        {"output_type": "execute_result", "data": {"text/plain": HOSTILE_HTML}, "metadata": {}},
        {
            "output_type": "display_data",
            "data": {"image/svg+xml": '<svg onload="alert(1)"><script>alert(2)</script></svg>'},
            "metadata": {},
        },
    ],
    ids=lambda o: "/".join(o.get("data", {o["output_type"]: 0}))[:30],
)
def test_every_notebook_output_renders_inert(output: dict) -> None:
    view = notebook_output_view(output, 2)
    assert view is not None
    _assert_inert(_render(view))


def test_an_svg_output_is_an_image_never_inline_markup() -> None:
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    view = notebook_output_view({"output_type": "display_data", "data": {"image/svg+xml": svg}}, 3)
    assert view is not None and view.kind == "image"
    assert view.src == "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    assert "<svg" not in _render(view)


def test_a_bad_base64_image_is_not_rendered() -> None:
    view = notebook_output_view(
        {"output_type": "display_data", "data": {"image/png": '"><script>', "text/plain": "fig"}}, 1
    )
    assert view is not None and view.kind == "text" and view.text == "fig"


def test_tables_show_a_page_of_rows_and_say_how_many_there_are() -> None:
    rows = [[i, i / 3, None, "x"] for i in range(500)]
    view = job_output_view(
        "j", {"cell": 1, "type": "table", "columns": list("abcd"), "rows": rows, "total_rows": 9000}
    )
    assert view.table is not None and view.table.shown == TABLE_ROWS_SHOWN
    html = _render(view)
    assert "9,000 rows, the first 100 shown" in html
    assert [cell_text(v) for v in (2.0, 1 / 3, None, float("nan"), True, 1e-7)] == [
        "2.0",
        "0.333333",
        "",
        "NaN",
        "True",
        "1e-07",
    ]


def test_sse_frames_cannot_be_split_by_job_text() -> None:
    frame = sse_frame("update", "line 1\nevent: done\ndata: x\r\n\nline 3", "7")
    lines = frame.split("\n")
    assert lines[:2] == ["id: 7", "event: update"]
    assert frame.endswith("\n\n") and frame.count("\n\n") == 1
    assert all(line.startswith("data: ") for line in lines[2:-2])


def test_live_events_render_escaped() -> None:
    started = render_event({"type": "cell_started", "cell": 3, "source": "print('<script>')"})
    assert 'hx-swap-oob="beforeend:#live-cells"' in started and "<script>" not in started
    output = render_event(
        {
            "type": "output",
            "cell": 3,
            "output": {"output_type": "stream", "name": "stdout", "text": "<b>x"},
        }
    )
    assert "beforeend:#cell-3-outputs" in output and "&lt;b&gt;x" in output
    assert render_event({"type": "status", "status": "<script>"}) == ""
    assert 'id="job-status"' in render_event({"type": "status", "status": "running"})
    assert render_event({"type": "unknown"}) == ""


def test_charts_stack_series_on_a_round_axis() -> None:
    days = [date(2026, 12, 1) + timedelta(days=i) for i in range(3)]
    chart = bar_chart("Jobs", days, {"completed": {days[0]: 3}, "failed": {days[0]: 1, days[2]: 7}})
    assert nice_ceiling(8) == 10 and nice_ceiling(0) == 5 and nice_ceiling(101) == 200
    assert [t.value for t in chart.ticks] == [0, 2, 4, 6, 8, 10]
    first = [r for r in chart.rects if r.title.startswith("Dec 1")]
    assert [r.series for r in first] == ["completed", "failed"]
    # Stacked: the second segment sits on the first.
    assert first[1].y + first[1].height == pytest.approx(first[0].y)
    assert chart.total == 11 and chart.rows[1] == (days[1], [0, 0])


def test_ip_keys_group_ipv6_by_64() -> None:
    assert ip_key("203.0.113.9") == "ip:203.0.113.9"
    assert ip_key("2001:db8:1:2:3::4") == ip_key("2001:db8:1:2:ffff::1") == "ip:2001:db8:1:2::/64"
    assert ip_key("::ffff:203.0.113.9") == "ip:203.0.113.9"
    assert ip_key(None) == "ip:unknown"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/jobs/1?x=2", "/jobs/1?x=2"),
        ("//evil.example/x", "/jobs"),
        ("https://evil.example", "/jobs"),
        ("/\\evil.example", "/jobs"),
        ("/a\nb", "/jobs"),
        (None, "/jobs"),
    ],
)
def test_sign_in_goes_back_to_this_site_only(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected
