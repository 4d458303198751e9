"""The audit log through the CLI, on both stores: `prompts audit --verify` passes on an untouched chain and
names the entry when a row is edited, removed or reordered directly in the database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tokentrail.cli import app
from tokentrail.prompts import events as ev
from tokentrail.store import Store, open_store
from tokentrail.store.clickhouse import ClickHouseStore

runner = CliRunner()


def cli(db: str, *args: str) -> tuple[int, str]:
    out = runner.invoke(app, ["prompts", *args, "--db", db], env={"COLUMNS": "200"})
    return out.exit_code, out.output


def build_history(db: str, tmp_path: Path) -> None:
    one, two = tmp_path / "one.txt", tmp_path / "two.json"
    one.write_text("Triage this ticket: {ticket}")
    two.write_text('{"messages": [{"role": "system", "content": "Triage: {ticket}"}], "model": "gpt-4o"}')
    assert cli(db, "create", "triage", "--file", str(one), "-m", "first", "--actor", "ann")[0] == 0
    assert cli(db, "create", "triage", "--file", str(two), "-m", "chat", "--actor", "ann")[0] == 0
    assert cli(db, "approve", "triage", "1", "--actor", "ben")[0] == 0
    assert cli(db, "promote", "triage", "1", "--stage", "prod", "--actor", "ben")[0] == 0


def raw(db: str, duck_sql: str, ch_sql: str) -> None:
    store: Store = open_store(db)
    try:
        if isinstance(store, ClickHouseStore):
            store._engine.command(ch_sql + " SETTINGS mutations_sync = 2")
        else:
            store.execute(duck_sql)
    finally:
        store.close()


def edit(db: str) -> None:
    raw(
        db,
        "UPDATE prompt_events SET actor = 'mallory' WHERE seq = 3",
        "ALTER TABLE prompt_events UPDATE actor = 'mallory' WHERE seq = 3",
    )


def remove(db: str) -> None:
    raw(db, "DELETE FROM prompt_events WHERE seq = 2", "ALTER TABLE prompt_events DELETE WHERE seq = 2")


def reorder(db: str) -> None:
    """Swap entries 2 and 3: delete both and insert them back under each other's seq."""
    store = open_store(db)
    try:
        columns = ", ".join(ev.COLUMNS)
        rows = store.query(f"SELECT {columns} FROM prompt_events WHERE seq IN (2, 3) ORDER BY seq").dicts()
    finally:
        store.close()
    remove_sql = "prompt_events WHERE seq IN (2, 3)"
    raw(db, f"DELETE FROM {remove_sql}", f"ALTER TABLE {remove_sql.replace('WHERE', 'DELETE WHERE')}")
    store = open_store(db)
    try:
        for row, seq in zip(rows, (3, 2), strict=True):
            row["seq"] = seq
            store.execute(
                f"INSERT INTO prompt_events ({columns}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
    finally:
        store.close()


def test_cli_history_and_untouched_chain_verifies(db: str, tmp_path: Path) -> None:
    build_history(db, tmp_path)
    code, out = cli(db, "audit", "triage", "--verify")
    assert code == 0 and "verified: 4 entries" in out and "(unauthenticated)" in out
    code, out = cli(db, "show", "triage")
    assert code == 0 and "approved" in out and "prod" in out
    code, out = cli(db, "diff", "triage", "1", "2")
    assert code == 0 and "-Triage this ticket: {ticket}" in out and "+[system]" in out
    code, out = cli(db, "approve", "triage", "2", "--actor", "ann")
    assert code != 0 and "four eyes" in out
    code, out = cli(db, "promote", "triage", "2", "--stage", "prod", "--actor", "ben")
    assert code != 0 and "requires an approved version" in out
    assert cli(db, "audit", "triage", "--verify")[1].count("\n") > 0
    assert "verified: 4 entries" in cli(db, "audit", "triage", "--verify")[1]  # refusals appended nothing


@pytest.mark.parametrize(
    ("tamper", "entry", "says"),
    [
        (edit, 3, "edited"),
        (remove, 2, "removed or reordered"),
        (reorder, 2, "removed or reordered"),
    ],
)
def test_verify_catches_tampering(
    db: str, tmp_path: Path, tamper: Callable[[str], None], entry: int, says: str
) -> None:
    build_history(db, tmp_path)
    tamper(db)
    code, out = cli(db, "audit", "triage", "--verify")
    assert code == 1
    assert f"audit log broken at entry {entry}" in out and says in out
