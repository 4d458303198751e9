"""The one table from tokentrail's exceptions (`tokentrail.exceptions`) to exit codes.

`Commands`, the click group of `tokentrail` (cli/__init__.py), runs every command (subcommands of
subgroups included) and turns an exception of the tree that a command lets through into the message on
stderr (escaped: never read as Rich markup) and the exit code of the nearest class in `EXIT_CODES`:
2 for input the user can fix (an argument, a file, a setting, a location), 1 for a failure of the work
itself. The simulator's errors are outside the tree (see exceptions.py): `tokentrail simulate` handles its
ProfileError itself. The table imports no server module, so `tokentrail --help` stays quick.
"""

from __future__ import annotations

from typing import Any, Final, NoReturn

from typer.core import TyperGroup

from tokentrail.archive.target import ArchiveError
from tokentrail.cli.common import fail
from tokentrail.demo.options import DemoError
from tokentrail.exceptions import InputError, NotFoundError, TokentrailError
from tokentrail.experiments.data import NotFound as ExperimentNotFound
from tokentrail.prompts.registry import PromptError
from tokentrail.replay.collector import CollectorError
from tokentrail.store import StoreError

EXIT_CODES: Final[dict[type[TokentrailError], int]] = {
    TokentrailError: 1,  # among others: the gRPC port taken (server.otlp_grpc.BindFailed)
    InputError: 2,
    NotFoundError: 2,
    ExperimentNotFound: 1,  # `experiments analyze` of a name no call carries: nothing to report
    PromptError: 2,
    StoreError: 2,  # the store cannot be opened or read as asked
    ArchiveError: 2,  # an archive location that cannot be used
    CollectorError: 2,  # the collector named cannot be reached
    DemoError: 2,  # the demo cannot run as asked (a port taken, a store in the way)
}


def exit_code(exc: TokentrailError) -> int:
    """The exit code of the first of the exception's classes (most specific first) the table lists."""
    return next(EXIT_CODES[c] for c in type(exc).__mro__ if c in EXIT_CODES)


def report(exc: TokentrailError) -> NoReturn:
    """Print the message to stderr and exit with the table's code."""
    fail(str(exc), exit_code(exc))


class Commands(TyperGroup):
    """The top-level group: every command runs inside `invoke`, so one except clause covers them all."""

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click.Context
        try:
            return super().invoke(ctx)
        except TokentrailError as exc:
            report(exc)
