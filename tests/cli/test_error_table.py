"""cli/errors.py: every entry of the exit-code table, through the click group the CLI runs commands in;
and a bad TOKENTRAIL_* setting as one clear line, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tokentrail.archive.target import ArchiveError
from tokentrail.cli import app
from tokentrail.cli.errors import EXIT_CODES, Commands
from tokentrail.demo.options import DemoError
from tokentrail.exceptions import InputError, NotFoundError, TokentrailError
from tokentrail.experiments.data import NotFound
from tokentrail.prompts.registry import PromptError
from tokentrail.replay.collector import CollectorError
from tokentrail.store import StoreError

# written out here, not read from the table: the test fails when the table changes a code
EXPECTED: dict[type[TokentrailError], int] = {
    TokentrailError: 1,
    InputError: 2,
    NotFoundError: 2,
    NotFound: 1,
    PromptError: 2,
    StoreError: 2,
    ArchiveError: 2,
    CollectorError: 2,
    DemoError: 2,
}
MESSAGE = "bad [red]value[/red] <as given>"
runner = CliRunner()


def raising_app(cls: type[TokentrailError]) -> typer.Typer:
    demo = typer.Typer(cls=Commands)
    sub = typer.Typer()
    demo.add_typer(sub, name="group")

    @sub.command()
    def fails() -> None:
        raise cls(MESSAGE)

    @sub.command()
    def works() -> None:
        print("fine")

    return demo


def test_the_test_covers_every_entry_of_the_table() -> None:
    assert set(EXPECTED) == set(EXIT_CODES)


def test_the_cli_runs_its_commands_in_the_group_that_applies_the_table() -> None:
    assert isinstance(typer.main.get_command(app), Commands)


@pytest.mark.parametrize("cls", list(EXPECTED), ids=lambda c: c.__name__)
def test_each_class_exits_with_its_code_and_its_message_escaped(cls: type[TokentrailError]) -> None:
    out = runner.invoke(raising_app(cls), ["group", "fails"])
    assert out.exit_code == EXPECTED[cls]
    assert out.stderr.strip() == f"error: {MESSAGE}"  # printed as written: Rich did not read [red]
    assert out.stdout == ""


def test_a_command_that_raises_nothing_is_left_alone() -> None:
    out = runner.invoke(raising_app(TokentrailError), ["group", "works"])
    assert out.exit_code == 0 and out.stdout == "fine\n"


def test_other_exceptions_are_not_swallowed() -> None:
    demo = typer.Typer(cls=Commands)

    @demo.command()
    def crash() -> None:
        raise RuntimeError("a bug")

    @demo.command()
    def other() -> None:
        pass

    out = runner.invoke(demo, ["crash"])
    assert out.exit_code == 1 and isinstance(out.exception, RuntimeError)


def test_a_bad_setting_is_one_clear_line(tmp_path: Path) -> None:
    env = {"TOKENTRAIL_QUERY_CONCURRENCY": "abc[b]", "TOKENTRAIL_DB": str(tmp_path / "t.duckdb")}
    out = runner.invoke(app, ["report"], env=env)
    assert out.exit_code == 2
    assert out.stderr == (
        "error: TOKENTRAIL_QUERY_CONCURRENCY='abc[b]': Input should be a valid integer, "
        "unable to parse string as an integer\n"
    )
    assert out.exception is None or isinstance(out.exception, SystemExit)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["keys", "create", "k", "--scopes", "[b]x"],
            "error: unknown or missing scopes ['[b]x']; choose from: ",
        ),
        (["prompts", "show", "[b]x"], "error: no prompt named '[b]x'"),
        (["prompts", "create", "p", "--file", "[b]x.txt"], "error: cannot read [b]x.txt: "),
    ],
    ids=["keys", "prompts-registry", "prompts-file"],
)
def test_a_real_command_prints_brackets_as_written(
    args: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Escaped once (by `fail`), not twice: no backslash before a bracket of the message."""
    monkeypatch.chdir(tmp_path)
    out = runner.invoke(app, [*args, "--db", str(tmp_path / "t.duckdb")])
    assert out.exit_code == 2
    assert out.stderr.startswith(expected), out.stderr
    assert "\\" not in out.stderr
