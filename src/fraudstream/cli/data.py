"""Commands about data: simulate a world, print schemas and the feature list."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
import typer
from rich.table import Table

from fraudstream.cli.app import app, check_output, console, progress_bar
from fraudstream.io import FrameWriter, labels_path_for
from fraudstream.schema import json_schemas
from fraudstream.simulate import SCENARIOS, World, WorldConfig


def simulate_to_files(world: World, days: int, out: Path) -> tuple[int, int, Path]:
    """Generate `days` days day by day into `out` and its labels file; returns row counts."""
    labels_out = labels_path_for(out)
    with (
        FrameWriter(out) as tx_writer,
        FrameWriter(labels_out) as label_writer,
        progress_bar() as progress,
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
    start: Annotated[
        datetime,
        typer.Option(
            formats=["%Y-%m-%d"], metavar="YYYY-MM-DD", show_default=False, help="First day (UTC; default: 2026-01-01)."
        ),
    ] = datetime(2026, 1, 1),
    fraud_rate: Annotated[
        float | None,
        typer.Option(min=0.0001, max=0.4, help="Share of fraudulent transactions (default: 0.007; ulb: 0.00172)."),
    ] = None,
    shape: Annotated[
        Literal["world", "ulb"],
        typer.Option("--shape", help="world, or ulb: a file shaped like the public ULB data set."),
    ] = "world",
    rows: Annotated[int, typer.Option("--rows", min=100, help="Rows of a --shape ulb file.")] = 284_807,
) -> None:
    """Simulate a world of customers and merchants with labelled fraud scenarios."""
    check_output(out)
    if shape == "ulb":
        from fraudstream.io import write_frame
        from fraudstream.simulate.ulb import ulb_like

        frame = ulb_like(rows, fraud_rate=fraud_rate or 0.00172, seed=seed)
        write_frame(frame, out)
        console.print(f"wrote {len(frame):,} ULB-shaped rows ({int(frame['Class'].sum()):,} frauds) to [bold]{out}[/]")
        return
    config = WorldConfig(
        customers=customers,
        merchants=merchants,
        seed=seed,
        start=start.replace(tzinfo=UTC),
        fraud_rate=fraud_rate or 0.007,
    )
    n_tx, n_labels, labels_out = simulate_to_files(World(config), days, out)
    console.print(
        f"wrote {n_tx:,} transactions to [bold]{out}[/] and {n_labels:,} fraud labels to [bold]{labels_out}[/]"
    )


@app.command()
def schema(
    names: Annotated[
        list[str] | None,
        typer.Argument(metavar="NAME", help="transaction, label and/or decision (default: all)."),
    ] = None,
) -> None:
    """Print the JSON Schema of the wire formats."""
    try:
        schemas = json_schemas(names)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="NAME") from None
    typer.echo(json.dumps(schemas if len(schemas) > 1 else next(iter(schemas.values())), indent=2))


@app.command()
def features(
    markdown: Annotated[bool, typer.Option("--markdown", help="A Markdown table instead of a rich one.")] = False,
) -> None:
    """List the features fraudstream computes, with what each needs."""
    from fraudstream.features import FEATURES

    if markdown:
        typer.echo("| feature | needs | description |\n|---|---|---|")
        for f in FEATURES.values():
            typer.echo(f"| `{f.name}` | {', '.join(sorted(f.requires)) or '-'} | {f.description} |")
        return
    table = Table(title=f"{len(FEATURES)} features (plus a data set's numeric extra fields)", title_justify="left")
    for column in ("feature", "needs", "description"):
        table.add_column(column)
    for f in FEATURES.values():
        table.add_row(f.name, ", ".join(sorted(f.requires)) or "-", f.description)
    console.print(table)


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
