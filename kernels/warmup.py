"""Code every kernel runs before it counts as warm."""

from __future__ import annotations

# Run with silent=True, store_history=False: the user's first cell is still In[1].
# `%matplotlib inline` renders through Agg and emits each figure as image/png after the cell.
# The table schema makes DataFrames also emit application/vnd.dataresource+json.
WARMUP_CODE = """\
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
%matplotlib inline
pd.options.display.html.table_schema = True
"""
