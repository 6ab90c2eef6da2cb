"""The `fraudstream` command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from fraudstream import __version__
from fraudstream.config import Settings
from fraudstream.io import FrameWriter, labels_path_for
from fraudstream.io.files import UnsupportedFormatError, file_format
from fraudstream.logs import configure_logging
from fraudstream.schema import json_schemas
from fraudstream.simulate import SCENARIOS, World, WorldConfig

__all__ = ["app", "main"]

app = typer.Typer(
    name="fraudstream",
    help="Real-time fraud detection for payment transactions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)


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


def _check_output(path: Path) -> None:
    try:
        file_format(path)
    except UnsupportedFormatError as exc:
        raise typer.BadParameter(str(exc), param_hint="--out") from None


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rows]:>12,} rows"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


def simulate_to_files(world: World, days: int, out: Path) -> tuple[int, int, Path]:
    """Generate `days` days day by day into `out` and its labels file; returns row counts."""
    labels_out = labels_path_for(out)
    with (
        FrameWriter(out) as tx_writer,
        FrameWriter(labels_out) as label_writer,
        _progress() as progress,
    ):
        task = progress.add_task("simulating days", total=days, rows=0)
        for day in range(days):
            transactions, labels = world.day(day)
            tx_writer.write(transactions)
            label_writer.write(labels)
            progress.update(task, advance=1, rows=tx_writer.rows)
    return tx_writer.rows, label_writer.rows, labels_out


@app.command()
def simulate(
    out: Annotated[
        Path,
        typer.Option(help="Transactions file (.parquet, .csv or .csv.gz); labels go beside it."),
    ],
    customers: Annotated[int, typer.Option(min=1, help="Number of customers.")] = 5_000,
    merchants: Annotated[int, typer.Option(min=1, help="Number of merchants.")] = 500,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Days of history.")] = 30,
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same world.")] = 0,
    start: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="First day (UTC).")] = datetime(
        2026, 1, 1
    ),
    fraud_rate: Annotated[
        float, typer.Option(min=0.0001, max=0.4, help="Share of fraudulent transactions.")
    ] = 0.007,
) -> None:
    """Simulate a world of customers and merchants with labelled fraud scenarios."""
    _check_output(out)
    config = WorldConfig(
        customers=customers,
        merchants=merchants,
        seed=seed,
        start=start.replace(tzinfo=UTC),
        fraud_rate=fraud_rate,
    )
    n_tx, n_labels, labels_out = simulate_to_files(World(config), days, out)
    console.print(
        f"wrote {n_tx:,} transactions to [bold]{out}[/] "
        f"and {n_labels:,} fraud labels to [bold]{labels_out}[/]"
    )


@app.command()
def schema(
    names: Annotated[
        list[str] | None, typer.Argument(help="transaction, label and/or decision (default: all).")
    ] = None,
) -> None:
    """Print the JSON Schema of the wire formats."""
    try:
        schemas = json_schemas(names)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="NAMES") from None
    typer.echo(json.dumps(schemas if len(schemas) > 1 else next(iter(schemas.values())), indent=2))


def world_summary(transactions: pd.DataFrame, labels: pd.DataFrame) -> Table:
    table = Table(title="Fraud by scenario", title_justify="left")
    table.add_column("scenario")
    table.add_column("transactions", justify="right")
    table.add_column("share of all", justify="right")
    table.add_column("median amount", justify="right")
    amounts = transactions.set_index("transaction_id")["amount"]
    counts = labels["scenario"].value_counts()
    for name in SCENARIOS:
        ids = labels.loc[labels["scenario"] == name, "transaction_id"]
        n = int(counts.get(name, 0))
        median = float(amounts.loc[ids].median()) if n else float("nan")
        table.add_row(name, f"{n:,}", f"{n / len(transactions):.3%}", f"{median:,.2f}")
    table.add_row(
        "[bold]all fraud",
        f"[bold]{len(labels):,}",
        f"[bold]{len(labels) / len(transactions):.3%}",
        "",
    )
    return table


def fraud_sample(transactions: pd.DataFrame, labels: pd.DataFrame, n: int = 8) -> Table:
    table = Table(title="A sample of fraudulent transactions", title_justify="left")
    for column in (
        "time (UTC)",
        "customer",
        "amount",
        "merchant",
        "channel",
        "country",
        "scenario",
    ):
        table.add_column(column, justify="right" if column == "amount" else "left")
    sample = labels.groupby("scenario", sort=False).head(2).head(n)
    rows = sample.merge(transactions, on="transaction_id")
    for row in rows.itertuples():
        table.add_row(
            f"{row.timestamp:%Y-%m-%d %H:%M:%S}",
            str(row.customer_id),
            f"{row.amount:,.2f} {row.currency}",
            f"{row.merchant_id} ({row.merchant_category})",
            str(row.channel),
            str(row.country),
            str(row.scenario),
        )
    return table


@app.command()
def demo(
    customers: Annotated[int, typer.Option(min=10, help="Customers in the demo world.")] = 3_000,
    days: Annotated[int, typer.Option(min=1, help="Days of history to simulate.")] = 30,
    seed: Annotated[int, typer.Option(min=0)] = 7,
) -> None:
    """Run fraudstream end to end on a simulated world, with nothing else installed."""
    settings = Settings()
    out = settings.home / "demo" / "world.parquet"
    world = World(WorldConfig(customers=customers, merchants=max(20, customers // 10), seed=seed))
    n_tx, _, labels_out = simulate_to_files(world, days, out)
    transactions, labels = pd.read_parquet(out), pd.read_parquet(labels_out)
    console.rule("[bold]fraudstream demo")
    console.print(
        f"Simulated {n_tx:,} transactions of {customers:,} customers at {world.config.merchants:,} merchants "
        f"over {days} days, from {world.config.start:%Y-%m-%d}."
    )
    console.print(world_summary(transactions, labels))
    console.print(fraud_sample(transactions, labels))
    console.print(f"Transactions: [bold]{out}[/]\nFraud labels (reported days later): [bold]{labels_out}[/]")


def main() -> None:
    app()
