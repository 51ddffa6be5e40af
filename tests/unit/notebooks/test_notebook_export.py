from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import nbformat

from pyexec.notebooks import (
    CellRecord,
    Transcript,
    build_notebook,
    notebook_to_bytes,
    notebook_to_html,
)

MakeTranscript = Callable[..., Transcript]


def test_bytes_are_utf8_json_with_trailing_newline(make_transcript: MakeTranscript) -> None:
    t = make_transcript(title="Ventes — café ☕")
    data = notebook_to_bytes(build_notebook(t))

    assert data.endswith(b"}\n")
    assert "Ventes — café ☕".encode() in data  # not \u-escaped
    assert json.loads(data)["metadata"]["pyexec"]["title"] == "Ventes — café ☕"
    nbformat.validate(nbformat.reads(data.decode("utf-8"), as_version=4))


def test_html_is_a_standalone_page_with_title_and_inline_image(
    make_transcript: MakeTranscript, png_b64: str
) -> None:
    html = notebook_to_html(build_notebook(make_transcript()))

    assert html.lstrip().lower().startswith("<!doctype html>")
    assert "<title>Sales Data Analysis</title>" in html
    assert re.search(r"<h1[^>]*>Sales Data Analysis", html)
    assert re.search(rf'<img[^>]*src="data:image/png;base64,{re.escape(png_b64)}"', html)
    assert "Revenue is highest in <strong>March</strong>" in html


def _html_of(*outputs: dict[str, Any], sanitize: bool = True) -> str:
    cells = [CellRecord("code", "x", list(outputs), execution_count=1)]
    nb = build_notebook(Transcript("j", "t", "failed", cells))
    return notebook_to_html(nb, sanitize=sanitize)


def _display(data: dict[str, Any], metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"output_type": "display_data", "data": data, "metadata": metadata or {}}


def test_html_keeps_dataframe_tables_and_markdown(table_output: dict[str, Any]) -> None:
    html = _html_of(table_output, _display({"text/markdown": "> quoted *text*"}))

    assert re.search(r'<table class="dataframe">(<tbody>)?<tr><td>1</td></tr>', html)
    assert "<blockquote>" in html
    assert "<em>text</em>" in html


def test_html_sanitizes_script_by_default() -> None:
    evil = _display(
        {
            "text/html": '<b>bold</b><script>alert(1)</script><img src=x onerror="alert(2)">'
            '<a href="javascript:alert(3)">link</a>',
            "text/plain": "x",
        }
    )
    html = _html_of(evil)

    assert "<b>bold</b>" in html
    for needle in ("<script>alert(1)", "onerror", "javascript:alert"):
        assert needle not in html
    assert "<script>alert(1)</script>" in _html_of(evil, sanitize=False)


def test_html_outputs_can_neither_hide_results_nor_load_anything(
    make_transcript: MakeTranscript,
) -> None:
    hiding = _display(
        {
            "text/html": "<style>.jp-Cell{display:none} @import url(http://evil.test/a.css);"
            '</style><div style="position:fixed;inset:0;background:white">cover</div>'
            '<img src="http://evil.test/pixel.png"><a href="https://evil.test/">go</a>'
            '<a href="#results">results</a>',
            "text/plain": "x",
        }
    )
    html = _html_of(hiding)
    for needle in ("display:none", "@import", "position:fixed", "evil.test"):
        assert needle not in html
    assert ">cover</div>" in html and 'href="#results"' in html
    page = notebook_to_html(build_notebook(make_transcript()))
    # Self-contained: no script at all, nothing fetched, the policy in the page itself.
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'' in page


def test_html_drops_outputs_that_would_run_script(png_b64: str) -> None:
    html = _html_of(
        _display({"application/javascript": "alert('js')", "text/plain": "js"}),
        _display({"text/vnd.mermaid": "</pre><script>alert('mermaid')</script>"}),
        _display(
            {"image/png": png_b64},
            {"image/png": {"width": "1 onerror=alert('img')", "height": 5}},
        ),
    )

    assert "alert(" not in html
    assert re.search(r'<img[^>]*\sheight="5"', html)
    assert 'width="1 ' not in html


def test_html_title_is_escaped() -> None:
    t = Transcript("j", "</title><script>alert(1)</script>", "completed", [])
    html = notebook_to_html(build_notebook(t))

    assert "<script>alert(1)</script>" not in html
    assert "&lt;/title&gt;" in html
