"""The kernel-side modules: read as text, valid Python, and in step with the worker's side."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pandas as pd
import pytest

from pyexec.worker.agent.inspection import HEAD_ROWS, INSPECTION_MIME, inspection_code
from pyexec.worker.inputs import StagedFile
from pyexec.worker.job_outputs import TABLE_MIME, TABLE_ROW_CAP
from pyexec.worker.kernel_source import kernel_source, prepare_code


@pytest.mark.parametrize("name", ["tables", "excel", "inspection"])
def test_each_kernel_module_is_python_read_from_the_package(name: str) -> None:
    source = kernel_source(name)
    ast.parse(source, filename=f"{name}.py")
    assert source.endswith("\n")


def test_the_tables_formatter_uses_the_worker_s_mime_and_row_cap() -> None:
    tree = ast.parse(kernel_source("tables"))
    function = next(
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name == "_pyexec_tables"
    )
    names = [a.arg for a in function.args.args]
    defaults = dict(zip(names, [ast.literal_eval(d) for d in function.args.defaults], strict=True))
    assert defaults == {"mime": TABLE_MIME, "row_cap": TABLE_ROW_CAP}


def test_the_prepare_code_registers_tables_then_excel_readers_and_leaves_no_names() -> None:
    code = prepare_code()
    assert code.index("_pyexec_tables()") < code.index('"io.excel.xls.reader"')
    # Outside a kernel (no IPython shell) it runs, returns early and cleans up after itself.
    namespace: dict[str, object] = {}
    exec(compile(code, "prepare", "exec"), namespace)
    assert {k for k in namespace if not k.startswith("__")} == set()


def test_the_inspection_cell_starts_with_the_module_and_reports_in_the_worker_s_mime() -> None:
    prelude = kernel_source("inspection")
    cell = inspection_code([StagedFile("sales.csv", 10, "text/csv")])
    assert cell.startswith(prelude)
    assert f"\"{INSPECTION_MIME}\": files" in prelude
    assert f"frame.head({HEAD_ROWS})" in prelude
    assert "df, _info = _pyexec_inspect('sales.csv', 'df', pd.read_csv)" in cell


def test_the_inspection_cell_runs_and_loads_the_frame(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sales.csv").write_text("region,revenue\nNorth,1.5\nSouth,2\n")
    cell = inspection_code([StagedFile("sales.csv", 30, "text/csv")])
    namespace: dict[str, object] = {}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(cell, "inspection", "exec"), namespace)
    finally:
        os.chdir(cwd)
    frame = namespace["df"]
    assert isinstance(frame, pd.DataFrame) and frame.shape == (2, 2)
    assert "df: 2 rows x 2 columns" in capsys.readouterr().out
