"""The `fraudstream` application, its console and what every command shares."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from fraudstream import __version__
from fraudstream.config import Settings
from fraudstream.io.dataset import BadDataError
from fraudstream.io.files import UnsupportedFormatError, file_format
from fraudstream.logs import configure_logging
from fraudstream.ports import PortInUseError

app = typer.Typer(
    name="fraudstream",
    help="Real-time fraud detection for payment transactions.",
    no_args_is_help=True,
    add_completion=False,
    # Click's own layout: flags without a value placeholder, one line an option.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
#: The database every command that reads or writes the service's store takes.
Database = Annotated[
    str | None,
    typer.Option("--database", help="SQLAlchemy URL (env FRAUDSTREAM_DATABASE_URL; default: SQLite in var/)."),
]
# Lines are not wrapped at the console's width: in a log or a pipe a path or a message stays whole.
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        console.print(f"fraudstream {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)


def open_store(database: str | None) -> Any:
    """The service's store: `database`, else FRAUDSTREAM_DATABASE_URL, else SQLite in var/."""
    from fraudstream.store import Store

    settings = Settings.model_validate({"database_url": database} if database else {})
    return Store(settings.database)


def check_output(path: Path) -> None:
    try:
        file_format(path)
    except UnsupportedFormatError as exc:
        raise typer.BadParameter(str(exc), param_hint="--out") from None


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rows]:>12,} rows"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


@contextmanager
def user_errors() -> Iterator[None]:
    """User mistakes (bad data, bad model, impossible split) end with a message, not a traceback."""
    from fraudstream.model.artifact import ModelLoadError

    try:
        yield
    except typer.Exit:
        raise  # said already (click's Exit is a RuntimeError)
    except (BadDataError, ModelLoadError, FileNotFoundError, ValueError, RuntimeError, PortInUseError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


def interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
