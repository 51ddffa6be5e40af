from __future__ import annotations

import base64
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from pyexec.notebooks.output_assembly import OutputAssembler, normalise_mimebundle


def _assemble(*cells: list[dict[str, Any]], count: int | None = 1) -> list[list[Any]]:
    assembler = OutputAssembler()
    built = [assembler.cell_outputs(raw, count) for raw in cells]
    # Every result must be something nbformat accepts.
    nb = new_notebook(cells=[new_code_cell("x", outputs=outs) for outs in built])
    nbformat.validate(nb)
    return built


def test_text_lists_are_joined_json_kept_as_objects() -> None:
    data = normalise_mimebundle(
        {
            "text/plain": ["a\n", "b"],
            "text/html": "<b>x</b>",
            "application/json": {"k": [1, 2]},
            "application/vnd.dataresource+json": '{"data": []}',
            "application/vnd.custom+json": "not json",
        }
    )
    assert data == {
        "text/plain": "a\nb",
        "text/html": "<b>x</b>",
        "application/json": {"k": [1, 2]},
        "application/vnd.dataresource+json": {"data": []},
        "application/vnd.custom+json": "not json",
    }


def test_binary_and_odd_values_become_strings() -> None:
    data = normalise_mimebundle({"image/png": b"\x89PNG", "text/plain": b"caf\xc3\xa9", "x/n": 3})
    assert data == {
        "image/png": base64.b64encode(b"\x89PNG").decode(),
        "text/plain": "café",
        "x/n": "3",
    }


def test_execute_result_gets_the_cell_execution_count() -> None:
    [[out]] = _assemble([{"output_type": "execute_result", "data": {"text/plain": "2"}}], count=7)
    assert out == {
        "output_type": "execute_result",
        "execution_count": 7,
        "data": {"text/plain": "2"},
        "metadata": {},
    }


def test_display_data_loses_execution_count_and_transient() -> None:
    raw = {
        "output_type": "display_data",
        "execution_count": 3,
        "data": {"text/plain": "x"},
        "metadata": None,
        "transient": None,
    }
    [[out]] = _assemble([raw])
    assert out == {"output_type": "display_data", "data": {"text/plain": "x"}, "metadata": {}}


def test_stream_text_lists_joined_and_consecutive_chunks_merged() -> None:
    [outs] = _assemble(
        [
            {"output_type": "stream", "name": "stdout", "text": ["a\n", "b\n"]},
            {"output_type": "stream", "name": "stdout", "text": "c\n"},
            {"output_type": "stream", "name": "stderr", "text": "warn\n"},
            {"output_type": "stream", "name": "stdout", "text": "d\n"},
        ]
    )
    assert [(o.name, o.text) for o in outs] == [
        ("stdout", "a\nb\nc\n"),
        ("stderr", "warn\n"),
        ("stdout", "d\n"),
    ]


def test_error_keeps_only_schema_keys() -> None:
    raw = {"output_type": "error", "ename": "E", "evalue": None, "traceback": "tb", "status": "x"}
    [[out]] = _assemble([raw])
    assert out == {"output_type": "error", "ename": "E", "evalue": "", "traceback": ["tb"]}


def test_update_display_data_rewrites_the_earlier_display_in_another_cell() -> None:
    first = {
        "output_type": "display_data",
        "data": {"text/plain": "'a'"},
        "metadata": {},
        "transient": {"display_id": "d1"},
    }
    update = {
        "output_type": "update_display_data",
        "data": {"text/plain": "'b'"},
        "metadata": {},
        "transient": {"display_id": "d1"},
    }
    cell1, cell2 = _assemble([first], [update])
    assert cell1[0].data == {"text/plain": "'b'"}
    assert cell2 == []


def test_clear_output_now_and_on_next_output() -> None:
    stream = {"output_type": "stream", "name": "stdout"}
    [outs] = _assemble(
        [
            {**stream, "text": "10%\n"},
            {"output_type": "clear_output", "wait": False},
            {**stream, "text": "50%\n"},
            {"output_type": "clear_output", "wait": True},
            {**stream, "text": "100%\n"},
        ]
    )
    assert [o.text for o in outs] == ["100%\n"]


def test_unknown_output_types_are_dropped() -> None:
    assert _assemble([{"output_type": "comm_msg"}, {"text": "no type"}]) == [[]]


def test_raw_outputs_are_not_mutated() -> None:
    raw = {"output_type": "display_data", "data": {"text/plain": ["a"]}, "transient": {}}
    _assemble([raw])
    assert raw == {"output_type": "display_data", "data": {"text/plain": ["a"]}, "transient": {}}
