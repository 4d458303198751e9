"""Spans sent with a tenant-bound ingest key: the key decides the tenant.

A key bound to one tenant stamps it on every span that names none; a span naming a tenant the key is not
bound to is rejected (counted in `partial_success`), never stored. A key bound to several tenants cannot
choose for a span that names none, so such a span is rejected too.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc


def stamp_tenant(table: pa.Table, tenants: Sequence[str]) -> tuple[pa.Table, int]:
    """(the spans the key may write, tenant filled in; how many were rejected)."""
    if not tenants:
        return table, 0
    index = table.schema.get_field_index("tenant")
    column = table.column(index)
    if len(tenants) == 1:
        column = pc.fill_null(
            pc.if_else(pc.equal(column, ""), None, column), pa.scalar(tenants[0], column.type)
        )
    allowed = pc.fill_null(pc.is_in(column, value_set=pa.array(tenants, column.type)), False)
    kept = table.set_column(index, "tenant", column).filter(allowed)
    return kept, table.num_rows - kept.num_rows


def rejection(count: int, tenants: Sequence[str]) -> str:
    return f"{count} spans named no tenant or one other than the key's ({', '.join(tenants)})"
