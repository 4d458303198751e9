"""The demo's options, checked once before anything starts (bad input: a `DemoError` with a clear message)."""

from __future__ import annotations

import dataclasses
import socket
import tempfile
from pathlib import Path
from typing import Final

from tokentrail.exceptions import TokentrailError
from tokentrail.settings import DEMO_DB

DEFAULT_DB: Final = DEMO_DB
DEFAULT_PORT: Final = 4318
HOST: Final = "127.0.0.1"
DEFAULT_THREADS: Final = 32
MIN_DAYS: Final = 3
MAX_DAYS: Final = 90
MAX_SCALE: Final = 10.0


class DemoError(TokentrailError):
    """The demo cannot run as asked; the message says why and what to do."""


@dataclasses.dataclass(frozen=True, slots=True)
class DemoOptions:
    db: Path = Path(DEFAULT_DB)
    replace: bool = True  # the demo owns its default file and starts it afresh; a user's --db is appended to
    port: int = DEFAULT_PORT
    days: int = 7
    scale: float = 1.0
    seed: int = 7
    serve: bool = True
    threads: int = DEFAULT_THREADS

    @classmethod
    def build(
        cls,
        db: str | None,
        port: int,
        days: int,
        scale: float,
        seed: int,
        serve: bool,
        threads: int = DEFAULT_THREADS,
    ) -> DemoOptions:
        """Options from the command line; `db` None means the demo's own default file."""
        if db and "://" in db:
            raise DemoError(f"--db must be a DuckDB file path, not a store URL ({db})")
        path = Path(db) if db else Path(DEFAULT_DB)
        options = cls(path, db is None, port, days, scale, seed, serve, threads)
        options.check()
        return options

    @property
    def ledger_path(self) -> Path:
        return self.db.with_name(self.db.name + ".ledger.json")

    @property
    def collector_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def check(self) -> None:
        if not MIN_DAYS <= self.days <= MAX_DAYS:
            raise DemoError(
                f"--days must be {MIN_DAYS}..{MAX_DAYS} (today, yesterday and the day before it, at least)"
            )
        if not 0 < self.scale <= MAX_SCALE:
            raise DemoError(f"--scale must be > 0 and <= {MAX_SCALE:g} (a fraction of the default calls)")
        if not 1 <= self.threads <= 256:
            raise DemoError("--threads must be 1..256")
        if not 1 <= self.port <= 65535:
            raise DemoError(f"--port must be 1..65535, not {self.port}")
        check_db(self.db)
        check_port(self.port)


def check_db(db: Path) -> None:
    """The file (and the ledger next to it) can be written: probed with a real file, not guessed."""
    if db.is_dir():
        raise DemoError(f"--db {db} is a directory; give a file path")
    folder = db.parent
    if not folder.is_dir():
        raise DemoError(f"cannot write --db {db}: the folder {folder} does not exist")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
        if db.exists():
            db.open("r+b").close()
    except OSError as exc:
        raise DemoError(f"cannot write --db {db}: {exc.strerror or exc}") from None


def check_port(port: int) -> None:
    """The collector's port must be free (a clear error now beats a crashed subprocess later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is free
        try:
            probe.bind((HOST, port))
        except OSError:
            raise DemoError(
                f"port {port} on {HOST} is taken (is a collector already running?); "
                "stop it or choose another with --port"
            ) from None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port
