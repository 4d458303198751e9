"""tokentrail's query language: CloudWatch Logs Insights queries over tokentrail data, compiled to SQL.

```python
from tokentrail.query import compile_query

compiled = compile_query(
    "filter status = 'error' | stats count(*) as errors by errorCode | sort errors desc",
    dialect="duckdb",  # or "clickhouse"
    start=datetime(2024, 1, 1), end=datetime(2024, 2, 1),  # the time picker: start <= start_time < end
)
store.query(compiled.sql, compiled.params)  # columns: compiled.columns
```

- `parse` gives the typed syntax tree (`nodes`); `compile_query` the SQL (`compiler`); `fields` documents
  the field names beyond the native columns (Bedrock invocation-log names, ``requestMetadata.*``,
  ``@message``);
  `functions` the functions.
- Every refused query raises `QueryError` with ``line``, ``column`` and ``hint``.
- `check_read_only` gates raw SQL for ``tokentrail sql``.
"""

from tokentrail.query.compiler import (
    DEFAULT_LIMIT,
    SOURCES,
    CompiledQuery,
    compile_filter,
    compile_query,
    glob_to_regex,
)
from tokentrail.query.errors import QueryError
from tokentrail.query.fields import ALIAS_NAMES, ATTRIBUTE_KEYS, MESSAGE_FIELDS, METADATA_LABELS
from tokentrail.query.functions import FUNCTION_NAMES
from tokentrail.query.nodes import Query
from tokentrail.query.parser import parse
from tokentrail.query.readonly import check_read_only

DIALECT_NAMES = ("duckdb", "clickhouse")

__all__ = [
    "ALIAS_NAMES",
    "ATTRIBUTE_KEYS",
    "DEFAULT_LIMIT",
    "DIALECT_NAMES",
    "FUNCTION_NAMES",
    "MESSAGE_FIELDS",
    "METADATA_LABELS",
    "SOURCES",
    "CompiledQuery",
    "Query",
    "QueryError",
    "check_read_only",
    "compile_filter",
    "compile_query",
    "glob_to_regex",
    "parse",
]
