"""The one exception of the query language.

`QueryError` covers every input the query language refuses: syntax errors (from the parser), semantic
errors (unknown field or function, wrong argument count, bad ``bin`` period, misuse of an aggregate) and
SQL refused by `check_read_only`. It carries the position (1-based ``line`` and ``column``, or None when the
error is about the query as a whole) and a ``hint`` saying what to do instead.
"""

from __future__ import annotations

from typing import Any

from tokentrail.exceptions import InputError


class QueryError(InputError):
    """A query that cannot be parsed or compiled.

    ``str(error)`` gives the message with its position and hint; the parts are attributes, so a CLI or an
    API can show them apart (see `to_dict`).
    """

    def __init__(
        self,
        message: str,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.line = line
        self.column = column
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        text = self.message
        if self.line is not None:
            text += f" (line {self.line}, column {self.column})"
        if self.hint:
            text += f". Hint: {self.hint}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, e.g. for a 400 answer of the API."""
        return {"message": self.message, "line": self.line, "column": self.column, "hint": self.hint}
