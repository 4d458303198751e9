"""The CLI's consoles measure the terminal when they print, not once when the module is imported."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tokentrail.cli import app
from tokentrail.cli.common import Terminal, console, err_console, say


def test_a_console_made_under_one_width_prints_at_the_width_of_the_moment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "50")
    made_narrow = Terminal()
    monkeypatch.setenv("COLUMNS", "137")
    assert made_narrow.width == 137
    with made_narrow.capture() as captured:
        made_narrow.rule()
    assert len(captured.get().rstrip("\n")) == 137


@pytest.mark.parametrize("shared", [console, err_console], ids=["stdout", "stderr"])
def test_the_shared_consoles_follow_columns(monkeypatch: pytest.MonkeyPatch, shared: Terminal) -> None:
    for columns in (61, 173):
        monkeypatch.setenv("COLUMNS", str(columns))
        assert shared.width == columns


def test_a_long_message_stays_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    message = "verified: 4 entries, head " + "ab" * 32  # a hash to copy, longer than the terminal
    with console.capture() as captured:
        say(message)
    assert captured.get() == message + "\n"


@pytest.mark.parametrize(
    ("command", "hint"),
    [
        (["serve", "--help"], "[env TOKENTRAIL_DB]"),
        (["prices", "check", "--help"], "[env TOKENTRAIL_PRICES_FILE]"),
    ],
)
def test_help_shows_the_bracketed_setting_hints(
    monkeypatch: pytest.MonkeyPatch, command: list[str], hint: str
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0 and hint in result.output
