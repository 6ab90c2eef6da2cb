"""The `fraudstream` command line."""

from __future__ import annotations

import ipaddress
import json
import math
import secrets
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from fraudstream import __version__
from fraudstream.config import Settings
from fraudstream.io import FrameWriter, labels_path_for, read_frame
from fraudstream.io.dataset import PRESETS, BadDataError, Dataset, load_dataset, parse_mapping
from fraudstream.io.files import UnsupportedFormatError, file_format
from fraudstream.logs import configure_logging
from fraudstream.ports import PortInUseError, check_port
from fraudstream.schema import json_schemas
from fraudstream.simulate import SCENARIOS, World, WorldConfig, iter_events

__all__ = ["app", "main"]

app = typer.Typer(
    name="fraudstream",
    help="Real-time fraud detection for payment transactions.",
    no_args_is_help=True,
    add_completion=False,
    # Click's own layout: flags without a value placeholder, one line an option.
    rich_markup_mode=None,
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
    start: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="First day (UTC).")] = datetime(2026, 1, 1),
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
    _check_output(out)
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
        list[str] | None, typer.Argument(help="transaction, label and/or decision (default: all).")
    ] = None,
) -> None:
    """Print the JSON Schema of the wire formats."""
    try:
        schemas = json_schemas(names)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="NAMES") from None
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


@app.command()
def demo(
    customers: Annotated[int, typer.Option(min=50, help="Customers in the demo world.")] = 3_000,
    days: Annotated[int, typer.Option(min=21, help="Days of history to simulate and learn from.")] = 60,
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same world (and the same model, reused).")] = 7,
    rate: Annotated[float, typer.Option(min=0.1, help="Live events per second.")] = 50.0,
    host: Annotated[str, typer.Option(help="Address of the API and dashboard.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = 8000,
    duration: Annotated[
        float | None, typer.Option(min=1.0, help="Stop after this many seconds (default: run until Ctrl-C).")
    ] = None,
) -> None:
    """Run fraudstream end to end on a simulated world, with nothing else installed."""
    from fraudstream.demo import prepare, run_live

    settings = Settings()
    home = settings.home / "demo"
    console.rule("[bold]fraudstream demo")
    with _user_errors():
        demo_world = prepare(home, customers, days, seed, err)
    console.print(
        f"History: {len(demo_world.transactions):,} transactions of {customers:,} customers over {days} days "
        f"(to {demo_world.live_start:%Y-%m-%d}), {len(demo_world.labels):,} frauds labelled days later."
    )
    console.print(world_summary(demo_world.transactions, demo_world.labels))
    reused = " (model reused from an earlier run)" if demo_world.reused_model else ""
    console.print(metrics_table(demo_world.metrics), f"Model [bold]{demo_world.model.version}[/]{reused}")
    console.rule(f"[bold]live: the next days of the world at {rate:g} events/s")
    with _user_errors():
        run_live(demo_world, home, host=host, port=port, rate=rate, console=console, duration=duration)
    console.print("stopped cleanly")


DEFAULT_METRICS_PORT = 9100


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    model: Annotated[Path | None, typer.Option("--model", help="Model directory (env FRAUDSTREAM_MODEL_PATH).")] = None,
    host: Annotated[str | None, typer.Option(help="Listen address (default: 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=0, max=65535, help="Port (default: 8000).")] = None,
    database: Annotated[
        str | None, typer.Option("--database", help="SQLAlchemy URL (env FRAUDSTREAM_DATABASE_URL; default SQLite).")
    ] = None,
    warm: Annotated[
        Path | None,
        typer.Option("--warm", help="A history to warm the in-memory feature state with (fraudstream files)."),
    ] = None,
    warm_labels: Annotated[Path | None, typer.Option("--warm-labels", help="Labels of the --warm history.")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Stream worker threads (one consumer each; scoring is serial per process: scale with processes).",
        ),
    ] = 1,
    source: Annotated[
        Literal["memory", "kafka"] | None,
        typer.Option("--source", help="memory (in-process) or kafka (env FRAUDSTREAM_SOURCE)."),
    ] = None,
    brokers: Annotated[
        str | None, typer.Option("--brokers", help="Kafka bootstrap servers (env FRAUDSTREAM_KAFKA_BROKERS).")
    ] = None,
    group: Annotated[str | None, typer.Option("--group", help="Kafka consumer group (default: fraudstream).")] = None,
    redis_url: Annotated[
        str | None, typer.Option("--redis", help="Redis URL for shared feature state (env FRAUDSTREAM_REDIS_URL).")
    ] = None,
    api: Annotated[bool, typer.Option("--api/--no-api", help="Serve the HTTP API and dashboard.")] = True,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            help="A port of its own for Prometheus's /metrics, without keys (default with --no-api: 9100).",
        ),
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Serve the API without keys on an address other than loopback.")
    ] = False,
) -> None:
    """Run the API, the dashboard and the stream workers on the configured source."""
    from fraudstream.runtime import build_runtime
    from fraudstream.server import Server

    overrides: dict[str, Any] = {
        "model_path": model,
        "host": host,
        "port": port,
        "database_url": database,
        "source": source,
        "kafka_brokers": brokers,
        "kafka_group": group,
        "redis_url": redis_url,
    }
    with _user_errors():
        settings = Settings.model_validate({k: v for k, v in overrides.items() if v is not None})
    if api and not settings.keys and not insecure and not _loopback(settings.host):
        raise typer.BadParameter(
            f"refusing to serve the API on {settings.host} without API keys: set FRAUDSTREAM_API_KEYS "
            "(or give --insecure)",
            param_hint="--host",
        )
    with _user_errors():
        runtime = build_runtime(settings, workers=workers)
        if warm is not None:
            dataset = load_dataset(warm, labels_path=warm_labels)
            runtime.service.model.check_inputs(dataset.inputs, dataset.extras)
            with err.status(f"warming feature state with {len(dataset.transactions):,} transactions"):
                runtime.service.scorer.engine.history(dataset.transactions, dataset.labels)
    signal.signal(signal.SIGTERM, _interrupt)  # docker stop, kubernetes: finish the batch, commit, exit
    if metrics_port is None and not api:
        metrics_port = DEFAULT_METRICS_PORT
    with _user_errors():
        if metrics_port is not None:
            from prometheus_client import start_http_server

            port_free = check_port(settings.host, metrics_port, "--metrics-port")
            start_http_server(port_free, addr=settings.host, registry=runtime.service.metrics.registry)
        server = Server(runtime, settings.host, settings.port, http=api)
    server.start()
    where = f"on {server.url}" if api else f"{workers} worker(s) on {settings.source}"
    console.print(f"fraudstream {__version__} serving model [bold]{runtime.service.scorer.version}[/] {where}")
    console.print(f"decisions stored in {_shown(settings.database)}")
    if not server.serve_until_interrupted():
        raise typer.Exit(1)
    console.print("stopped cleanly")


def _shown(url: str) -> str:
    """A database URL fit to print: a SQLite file's path, or the URL without its password."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        return str(Path(parsed.database or ":memory:").resolve()) if parsed.database else ":memory:"
    return parsed.render_as_string(hide_password=True)


@app.command()
def topics(
    brokers: Annotated[str, typer.Option("--brokers", help="Kafka bootstrap servers.")],
    partitions: Annotated[int, typer.Option(min=1, help="Partitions of the transactions and decisions topics.")] = 12,
    replication: Annotated[int, typer.Option(min=1, help="Replication factor.")] = 1,
) -> None:
    """Create fraudstream's Kafka topics (transactions, labels, decisions, dead letters) if missing."""
    from fraudstream.stream.kafka import KafkaSettings, ensure_topics

    kafka = KafkaSettings.from_settings(Settings(), brokers)
    with _user_errors():
        for topic, what in ensure_topics(kafka, partitions, replication).items():
            console.print(f"{topic}: {what}")


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@app.command()
def produce(
    brokers: Annotated[str, typer.Option("--brokers", help="Kafka bootstrap servers.")],
    from_file: Annotated[
        Path | None, typer.Option("--from", help="A history in fraudstream's columns (e.g. from `simulate`).")
    ] = None,
    labels: Annotated[Path | None, typer.Option("--labels", help="Its labels, sent when they were reported.")] = None,
    simulate_world: Annotated[bool, typer.Option("--simulate", help="Send a simulated world's traffic.")] = False,
    customers: Annotated[int, typer.Option(min=1, help="Simulated customers.")] = 5_000,
    merchants: Annotated[int, typer.Option(min=1, help="Simulated merchants.")] = 500,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the simulated world.")] = 0,
    rate: Annotated[float, typer.Option(min=0.0, help="Events per second (0: as fast as possible).")] = 100.0,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many transactions.")] = None,
    topic: Annotated[str, typer.Option("--topic", help="Topic of the transactions.")] = "transactions",
    labels_topic: Annotated[str, typer.Option("--labels-topic", help="Topic of the labels.")] = "labels",
) -> None:
    """Send transactions (keyed by customer id) and labels to Kafka."""
    from fraudstream.simulate.stream import events_from_frames, paced
    from fraudstream.stream.kafka import KafkaSettings
    from fraudstream.stream.produce import produce_events

    if simulate_world == (from_file is not None):
        raise typer.BadParameter("give either --simulate or --from PATH", param_hint="--simulate / --from")
    settings = KafkaSettings(brokers=brokers, transactions_topic=topic, labels_topic=labels_topic)
    with _user_errors():
        if from_file is not None:
            history = read_frame(from_file)
            label_frame = read_frame(labels) if labels else None
            events = paced(events_from_frames(history, label_frame), rate or None, time.monotonic, time.sleep)
        else:
            # Ids of their own: a second run of the same world would otherwise be taken
            # for replays of the first, and nothing new decided.
            run = f"{secrets.token_hex(3)}-"
            world = World(WorldConfig(customers=customers, merchants=merchants, seed=seed, id_prefix=run))
            events = iter_events(world, rate=rate or None)
            err.print(f"simulated transaction ids start with {run}")
        with err.status("producing") as status:
            done = produce_events(
                events,
                settings,
                limit=count,
                progress=lambda p: status.update(f"produced {p.transactions:,} transactions, {p.labels:,} labels"),
            )
    console.print(
        f"produced {done.transactions:,} transactions and {done.labels:,} labels to {brokers} "
        f"in {done.seconds:.1f} s ({(done.transactions + done.labels) / max(done.seconds, 1e-9):,.0f}/s)"
    )


# -- data options shared by train and evaluate ----------------------------------------

DataOpt = Annotated[Path, typer.Option("--data", help="Transaction history (.csv, .csv.gz or .parquet).")]
LabelsOpt = Annotated[
    Path | None,
    typer.Option("--labels", help="Separate labels file: transaction_id, optionally is_fraud and reported_at."),
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option("--map", help="canonical=COLUMN, repeatable (e.g. --map amount=Amount --map is_fraud=Class)."),
]
PresetOpt = Annotated[str | None, typer.Option("--preset", help=f"A known file shape: {', '.join(PRESETS)}.")]
ExtraOpt = Annotated[
    list[str] | None,
    typer.Option("--extra", help="Numeric columns to pass through as features (glob, repeatable)."),
]
TimeUnitOpt = Annotated[
    Literal["auto", "iso", "epoch-s", "epoch-ms", "offset-s"],
    typer.Option("--time-unit", help="How timestamps are written (offset-s: seconds from --start)."),
]
StartOpt = Annotated[
    datetime | None,
    typer.Option("--start", formats=["%Y-%m-%d"], help="Origin of offset-s timestamps (UTC)."),
]
DelayOpt = Annotated[
    float | None,
    typer.Option(
        "--label-delay-days",
        min=0.0,
        help="Days after a payment its fraud label is known: where labels carry no reported_at (default 7), "
        "and for the label-maturity features (default: estimated from reported_at; at most 34).",
    ),
]
OnErrorOpt = Annotated[
    Literal["raise", "skip"], typer.Option("--on-error", help="raise (stop at the first bad row) or skip.")
]


@contextmanager
def _user_errors() -> Iterator[None]:
    """User mistakes (bad data, bad model, impossible split) end with a message, not a traceback."""
    from fraudstream.model.artifact import ModelLoadError

    try:
        yield
    except (BadDataError, ModelLoadError, FileNotFoundError, ValueError, RuntimeError, PortInUseError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


def _load(
    data: Path,
    labels: Path | None,
    mapping: list[str] | None,
    preset: str | None,
    extra: list[str] | None,
    time_unit: str,
    start: datetime | None,
    delay: float | None,
    on_error: str,
) -> Dataset:
    with err.status(f"reading {data}"):
        dataset = load_dataset(
            data,
            labels_path=labels,
            mapping=parse_mapping(mapping or []),
            preset=preset,
            extras=extra or [],
            time_unit=time_unit,  # type: ignore[arg-type]
            start=start.replace(tzinfo=UTC) if start else None,
            label_delay_days=delay,
            on_error=on_error,  # type: ignore[arg-type]
        )
    if dataset.skipped_rows:
        err.print(f"skipped {dataset.skipped_rows:,} bad rows")
    if dataset.labels is not None:
        err.print(dataset.label_delay.describe())
    return dataset


def _train_config(**values: Any) -> Any:
    from fraudstream.model.train import TrainConfig

    return TrainConfig(**values)


MethodOpt = Annotated[
    Literal["fbeta", "cost"],
    typer.Option("--threshold-method", help="fbeta (F-beta on validation) or cost (expected cost)."),
]
BetaOpt = Annotated[float, typer.Option("--beta", min=0.01, help="Beta of F-beta for the review threshold.")]
ReviewCostOpt = Annotated[float, typer.Option("--review-cost", min=0.0, help="Cost of one manual review.")]
DeclineCostOpt = Annotated[
    float,
    typer.Option("--decline-cost", min=0.0, help="Cost of declining a good payment, as a share of its amount."),
]
TuneOpt = Annotated[
    int, typer.Option("--tune", min=0, help="Optuna trials maximising validation AP (0: default parameters).")
]
WeightOpt = Annotated[
    float,
    typer.Option("--scale-pos-weight", min=0.01, help="Weight of a fraud against a legitimate payment in training."),
]
ResampleOpt = Annotated[Literal["none", "smote"], typer.Option("--resample", help="none (class weights) or smote.")]
ValidationOpt = Annotated[
    float,
    typer.Option("--validation-fraction", min=0.05, max=0.5, help="Latest share of training rows for early stopping."),
]
SeedOpt = Annotated[int, typer.Option("--seed", min=0, help="Seed of the training (same data and seed, same model).")]


@app.command()
def train(
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", help="Model directory to write.")] = Path("models/fraud"),
    labels: LabelsOpt = None,
    map_: MapOpt = None,
    preset: PresetOpt = None,
    extra: ExtraOpt = None,
    time_unit: TimeUnitOpt = "auto",
    start: StartOpt = None,
    label_delay_days: DelayOpt = None,
    on_error: OnErrorOpt = "raise",
    threshold_method: MethodOpt = "fbeta",
    beta: BetaOpt = 2.0,
    review_cost: ReviewCostOpt = 5.0,
    decline_cost: DeclineCostOpt = 0.2,
    tune: TuneOpt = 0,
    scale_pos_weight: WeightOpt = 1.0,
    resample: ResampleOpt = "none",
    validation_fraction: ValidationOpt = 0.2,
    seed: SeedOpt = 0,
) -> None:
    """Train a model on a history: XGBoost on point-in-time features, thresholds on the latest slice."""
    from fraudstream.model.evaluate import train_on

    config = _train_config(
        threshold_method=threshold_method,
        beta=beta,
        review_cost=review_cost,
        decline_cost=decline_cost,
        tune=tune,
        scale_pos_weight=scale_pos_weight,
        resample=resample,
        validation_fraction=validation_fraction,
        seed=seed,
    )
    with _user_errors():
        dataset = _load(data, labels, map_, preset, extra, time_unit, start, label_delay_days, on_error)
        with err.status("computing features and training"):
            model = train_on(dataset, config)
        model.save(out)
    validation = model.info["metrics"]["validation"]
    console.print(
        f"wrote model [bold]{model.version}[/] to [bold]{out}[/]: {len(model.features.names)} features, "
        f"{model.info['trees']} trees; validation AP {validation['average_precision']:.3f}, "
        f"review ≥ {model.thresholds.review:.3f}, decline ≥ {model.thresholds.decline:.3f}"
    )
    _print_warnings(model.info["warnings"])


@app.command()
def thresholds(
    model: Annotated[Path, typer.Option("--model", help="Model directory (from `train`).")],
    review: Annotated[
        float, typer.Option("--review", min=0.0, max=1.0, help="Score from which a payment is reviewed.")
    ],
    decline: Annotated[float, typer.Option("--decline", min=0.0, max=1.0, help="Score from which it is declined.")],
    out: Annotated[Path | None, typer.Option("--out", help="Where to save it (default: its own directory).")] = None,
) -> None:
    """Set a model's review and decline thresholds by hand; it is saved with a new version."""
    import dataclasses

    from fraudstream.model.artifact import Model
    from fraudstream.model.thresholds import Thresholds

    if not decline > review:
        raise typer.BadParameter("the decline threshold must be above the review threshold", param_hint="--decline")
    with _user_errors():
        trained = Model.load(model)
        before = trained.version
        changed = dataclasses.replace(trained, thresholds=Thresholds(review, decline, "manual", {}))
        changed.save(out or model)
    console.print(f"saved [bold]{changed.version}[/] (was {before}): review ≥ {review:g}, decline ≥ {decline:g}")


def _print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {warning}")


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def metrics_table(metrics: dict[str, Any]) -> Table:
    table = Table(title="Evaluation on the test period", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("ROC AUC", f"{metrics['roc_auc']:.4f}"),
        ("average precision (PR AUC)", f"{metrics['average_precision']:.4f}"),
        (
            f"precision / recall at review ≥ {metrics['threshold']:.3f}",
            f"{metrics['precision']:.3f} / {metrics['recall']:.3f}",
        ),
        (
            f"precision / recall at decline ≥ {metrics['decline_threshold']:.3f}",
            f"{metrics['decline_precision']:.3f} / {metrics['decline_recall']:.3f}",
        ),
        (
            f"precision of the top {metrics['k']} {metrics['ranked_by']}s per day",
            f"{metrics['precision_at_k_per_day']:.3f}",
        ),
        *(
            [
                (
                    f"precision of the top {metrics['k']} transactions per day",
                    f"{metrics['precision_at_k_transactions_per_day']:.3f}",
                )
            ]
            if metrics["ranked_by"] != "transaction"
            else []
        ),
        ("train / test transactions", f"{metrics['n_train']:,} / {metrics['n_test']:,}"),
        ("frauds in test", f"{metrics['n_frauds_test']:,} ({metrics['fraud_rate_test']:.3%})"),
        ("trees (best validation AP)", f"{metrics['trees']:,}"),
        ("label delay", f"{metrics['label_delay_days']:.2f} days"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    for name, row in metrics.get("recall_by_scenario", {}).items():
        table.add_row(f"  recall: {name} ({row['frauds']})", f"{row['recall']:.3f}")
        after = row.get("after_terminal_report")
        if after and after["frauds"]:
            table.add_row(
                f"    after one like it was reported at its terminal ({after['frauds']})", f"{after['recall']:.3f}"
            )
    return table


@app.command()
def evaluate(
    data: DataOpt,
    labels: LabelsOpt = None,
    map_: MapOpt = None,
    preset: PresetOpt = None,
    extra: ExtraOpt = None,
    time_unit: TimeUnitOpt = "auto",
    start: StartOpt = None,
    label_delay_days: DelayOpt = None,
    on_error: OnErrorOpt = "raise",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout, nothing else.")] = False,
    split: Annotated[
        Literal["time", "random"], typer.Option("--split", help="time, or random (leaks the future).")
    ] = "time",
    test_fraction: Annotated[
        float, typer.Option("--test-fraction", min=0.01, max=0.9, help="Latest share of the period to test on.")
    ] = 0.2,
    gap_days: Annotated[
        float | None,
        typer.Option(
            "--gap-days",
            min=0.0,
            help="Unused days between train and test (default: 7, or a quarter of a history shorter than 4 weeks).",
        ),
    ] = None,
    train_start: Annotated[
        datetime | None,
        typer.Option("--train-start", formats=["%Y-%m-%d"], help="First day to train on (default: the first)."),
    ] = None,
    train_days: Annotated[
        float | None, typer.Option("--train-days", min=1.0, help="Days to train on (instead of --test-fraction).")
    ] = None,
    test_days: Annotated[
        float | None, typer.Option("--test-days", min=1.0, help="Days to test on, after the gap.")
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Alerts per day for precision@k.")] = 100,
    report: Annotated[Path, typer.Option("--report", help="Report folder (without --json).")] = Path("reports/latest"),
    threshold_method: MethodOpt = "fbeta",
    beta: BetaOpt = 2.0,
    review_cost: ReviewCostOpt = 5.0,
    decline_cost: DeclineCostOpt = 0.2,
    tune: TuneOpt = 0,
    scale_pos_weight: WeightOpt = 1.0,
    resample: ResampleOpt = "none",
    validation_fraction: ValidationOpt = 0.2,
    seed: SeedOpt = 0,
) -> None:
    """Train on the earlier part of a history and measure on the later part (time split with a gap)."""
    from fraudstream.model.evaluate import evaluate as run_evaluation
    from fraudstream.model.split import SplitConfig

    config = _train_config(
        threshold_method=threshold_method,
        beta=beta,
        review_cost=review_cost,
        decline_cost=decline_cost,
        tune=tune,
        scale_pos_weight=scale_pos_weight,
        resample=resample,
        validation_fraction=validation_fraction,
        seed=seed,
    )
    split_config = SplitConfig(
        method=split,
        test_fraction=test_fraction,
        gap_days=gap_days,
        train_start=train_start.replace(tzinfo=UTC) if train_start else None,
        train_days=train_days,
        test_days=test_days,
        seed=seed,
    )
    with _user_errors():
        dataset = _load(data, labels, map_, preset, extra, time_unit, start, label_delay_days, on_error)
        with err.status("computing features, training and testing"):
            result = run_evaluation(dataset, split_config, config, k=k)
    if as_json:
        typer.echo(json.dumps(_json_safe(result.metrics)))
        return
    from fraudstream.model.report import write_report

    path = write_report(result, report)
    console.print(metrics_table(result.metrics))
    console.print(f"report: [bold]{path}[/]")
    _print_warnings(result.metrics["warnings"])


@app.command()
def score(
    model: Annotated[Path, typer.Option("--model", help="Model directory (from `train`).")],
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", help="Scores file (.parquet, .csv or .csv.gz).")],
    labels: LabelsOpt = None,
    map_: MapOpt = None,
    preset: PresetOpt = None,
    extra: ExtraOpt = None,
    time_unit: TimeUnitOpt = "auto",
    start: StartOpt = None,
    label_delay_days: DelayOpt = None,
    on_error: OnErrorOpt = "raise",
    reasons: Annotated[int, typer.Option("--reasons", min=0, max=10, help="Reasons per transaction.")] = 3,
    chunk: Annotated[int, typer.Option("--chunk", min=1_000, help="Events per chunk (bounds memory).")] = 100_000,
) -> None:
    """Score a history with a model: one row per transaction (score, outcome, reasons), point in time."""
    from fraudstream.features.definitions import LABEL_FEATURES
    from fraudstream.model.artifact import Model
    from fraudstream.model.batch import scored_history

    _check_output(out)
    with _user_errors():
        trained = Model.load(model)
        dataset = _load(data, labels, map_, preset, extra, time_unit, start, label_delay_days, on_error)
        if dataset.labels is None and set(trained.features.names) & LABEL_FEATURES:
            _print_warnings(
                [
                    "no labels: the features about known fraud read as if none was ever reported; give --labels "
                    "(or map is_fraud) for the scores the model gives with what was known"
                ]
            )
        events = len(dataset.transactions) + (0 if dataset.labels is None else len(dataset.labels))
        with FrameWriter(out) as writer, _progress() as progress:
            task = progress.add_task("scoring", total=events, rows=0)
            for frame in scored_history(trained, dataset, reasons, chunk):
                writer.write(frame)
                progress.update(task, advance=chunk, rows=writer.rows)
    console.print(f"wrote {writer.rows:,} scored transactions to [bold]{out}[/] (model {trained.version})")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
