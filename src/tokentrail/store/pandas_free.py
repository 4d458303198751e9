"""pyarrow without pandas: the collector's processes never need pyarrow's pandas integration.

pyarrow imports pandas the first time it converts Python values (a take, a list of timestamps, a table
from lists), only to ask whether they are pandas objects, and takes a refused import as "not installed".
In the server that import landed on the writer thread in the first commit: the first OTLP request to a
fresh collector waited ~300 ms for it (bench, 100-span request: 311 ms against 49 ms after), and the
server's memory under load held pandas (~28 MB of PSS). Nothing the collector does passes pandas objects
to pyarrow; the alert rules that need pandas (anomaly detection) import it themselves.
"""

from __future__ import annotations

import importlib.abc
import sys
from typing import Any

import pyarrow as pa


class NoPandas(importlib.abc.MetaPathFinder):
    """Refuses to import pandas (a meta-path finder). The decoding workers keep it installed: nothing a
    worker does uses pandas, and it cost each worker ~25 MB of private memory (USS after the warm-up
    span: 74 MB with pandas, 49 MB without)."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError("tokentrail's collector does not load pandas here", name=name)
        return None


def settle_pyarrow_without_pandas() -> None:
    """Have pyarrow settle, once per process, that pandas is absent; pandas itself stays importable.

    Does nothing when pandas is already imported (pyarrow then finds it in sys.modules)."""
    finder = NoPandas()
    sys.meta_path.insert(0, finder)
    try:
        pa.array([0])  # the first conversion of Python values: pyarrow asks for pandas here, and remembers
    finally:
        sys.meta_path.remove(finder)
