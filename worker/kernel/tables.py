"""Tables as the job's `outputs` need them; run silently in each kernel before its first cell.

pandas' own table-schema repr holds only `display.max_rows` rows (60), so a frame's true
length is lost; this one holds up to `row_cap` rows and puts the real row count in the
output's metadata, leaving the HTML and text reprs (what a person sees in JupyterLab) as
pandas makes them. It is the same JSON pandas would make (`to_json(orient="table")`: NaN →
null, timestamps ISO 8601), so a re-run without it shows the same tables. `mime` and `row_cap`
are the worker's TABLE_MIME and TABLE_ROW_CAP (a unit test holds them equal).
"""


def _pyexec_tables(mime="application/vnd.dataresource+json", row_cap=1000):
    import json

    import pandas as pd
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return
    pd.set_option("display.html.table_schema", True)  # registers pandas' formatter
    formatter = shell.display_formatter.formatters.get(mime)
    if formatter is None:
        return

    def unique_columns(frame):
        names, seen = [], {}
        for column in frame.columns:
            name = " / ".join(map(str, column)) if isinstance(column, tuple) else str(column)
            count = seen.get(name, 0)
            seen[name] = count + 1
            names.append(name if count == 0 else f"{name}.{count}")
        return names

    def table(obj):
        try:
            head = obj.head(row_cap)
            if isinstance(head, pd.DataFrame) and (
                isinstance(head.columns, pd.MultiIndex) or not head.columns.is_unique
            ):
                head = head.copy()
                head.columns = unique_columns(head)
            try:
                text = head.to_json(orient="table", default_handler=str)
            except ValueError:  # e.g. the index and a column share a name
                text = head.to_json(orient="table", index=False, default_handler=str)
            return json.loads(text), {"total_rows": len(obj)}
        except Exception:
            return None  # the HTML and text reprs still show the frame

    formatter.for_type(pd.DataFrame, table)
    formatter.for_type(pd.Series, table)


_pyexec_tables()
del _pyexec_tables
