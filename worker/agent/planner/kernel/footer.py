"""The end of every planner cell: the numbers its answer quotes, displayed as JSON.

Only the part after the `CELL` marker goes into a cell; it reads the `result` dict the cell
built. pandas' encoder writes NaN as null and handles numpy numbers and timestamps.
"""

import json
from typing import Any

import pandas as pd
from IPython.display import display

result: dict[str, Any] = {}
# --- cell ---
# The numbers the answer quotes, displayed as JSON to be read back as computed here.
result = json.loads(pd.Series(result, dtype=object).to_json(date_format="iso", default_handler=str))
display({"application/json": result, "text/plain": json.dumps(result)}, raw=True)
