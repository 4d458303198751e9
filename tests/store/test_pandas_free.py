"""pyarrow settles once that pandas is absent (store/pandas_free.py); pandas stays importable after."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import pyarrow as pa
from tokentrail.store.pandas_free import settle_pyarrow_without_pandas
settle_pyarrow_without_pandas()
times = pa.chunked_array([pa.array([1, 2, 3], pa.timestamp("us"))])
print(times.take(pa.array([2, 0])).to_pylist()[0].microsecond, "pandas" in sys.modules)
import pandas
print(pandas.Series([1.0, 2.0, 4.0]).ewm(alpha=0.5).mean().iloc[-1], pa.array([7]).to_pylist())
"""


def test_conversions_do_not_import_pandas_and_pandas_still_imports_after() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["3 False", "3.0 [7]"]
