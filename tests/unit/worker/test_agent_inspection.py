from __future__ import annotations

from pyexec.worker.agent.inspection import (
    INSPECTION_MIME,
    inspection_code,
    parse_inspection,
    table_variables,
    tabular_suffix,
)
from pyexec.worker.inputs import StagedFile


def staged(*names: str) -> list[StagedFile]:
    return [StagedFile(n, 10, "text/csv") for n in names]


def test_tabular_suffix_knows_the_formats_and_compressed_text() -> None:
    assert tabular_suffix("sales.csv") == ".csv"
    assert tabular_suffix("Sales.CSV.gz") == ".csv"
    assert tabular_suffix("log.ndjson") == ".ndjson"
    assert tabular_suffix("book.xlsx") == ".xlsx"
    assert tabular_suffix("m.parquet") == ".parquet"
    assert tabular_suffix("book.xlsx.gz") is None  # binary formats do not come compressed
    assert tabular_suffix("notes.txt") is None
    assert tabular_suffix("archive.tar.gz") is None
    assert tabular_suffix("README") is None


def test_a_lone_table_is_df_several_are_named_after_their_files() -> None:
    assert table_variables(["sales.csv", "notes.txt"]) == {"sales.csv": "df"}
    assert table_variables(["sales.csv"], taken={"df"}) == {"sales.csv": "df_sales"}
    assert table_variables(["2023 Q1 (final).csv", "Sales.tsv", "sales.parquet"]) == {
        "2023 Q1 (final).csv": "df_2023_q1_final",
        "Sales.tsv": "df_sales",
        "sales.parquet": "df_sales_2",
    }
    assert table_variables(["été.csv", "x.json"], taken={"df"}) == {"été.csv": "df_t"}
    assert table_variables(["notes.txt"]) == {}


def test_inspection_code_is_python_that_loads_each_table() -> None:
    code = inspection_code(staged("sales.csv", "sensors.tsv", "it's.txt"))
    compile(code, "<inspection>", "exec")
    assert "df_sales, _info = _pyexec_inspect('sales.csv', 'df_sales', pd.read_csv)" in code
    assert 'lambda path: pd.read_csv(path, sep="\\t")' in code
    assert '_, _info = _pyexec_inspect("it\'s.txt")' in code
    assert code.rstrip().endswith("_pyexec_report(_inputs)")


def test_parse_inspection_reads_the_display_back() -> None:
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": "noise"},
        {
            "output_type": "display_data",
            "data": {
                "text/plain": "sales.csv ...",
                INSPECTION_MIME: [
                    {
                        "name": "sales.csv",
                        "bytes": 120,
                        "kind": "table",
                        "variable": "df",
                        "rows": 2,
                        "columns": [{"name": "revenue", "dtype": "float64"}],
                        "head": [{"revenue": 1.5}, {"revenue": None}],
                    },
                    {"name": "bad.csv", "bytes": 9, "kind": "other", "error": "ParserError: x"},
                ],
            },
            "metadata": {},
        },
    ]
    sales, bad = parse_inspection(outputs) or []
    assert (sales.name, sales.kind, sales.variable, sales.rows) == ("sales.csv", "table", "df", 2)
    assert sales.columns[0].name == "revenue" and sales.columns[0].dtype == "float64"
    assert sales.head == ({"revenue": 1.5}, {"revenue": None})
    assert (bad.kind, bad.variable, bad.rows, bad.error) == ("other", None, None, "ParserError: x")
    assert parse_inspection(outputs[:1]) is None
