"""Excel readers; run silently in each kernel before its first cell.

Job code's plain `pd.read_excel` then reads every Excel file staged: .xls through
python-calamine (pandas deprecates xlrd, which is not installed); .xlsx stays with openpyxl,
pandas' default, on which it would otherwise warn at each read that the default is to become
calamine.
"""

import pandas as _pd

_pd.set_option("io.excel.xls.reader", "calamine")
_pd.set_option("io.excel.xlsx.reader", "openpyxl")
del _pd
