"""Commands about models: train, evaluate, score a file, change thresholds."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from fraudstream.cli.app import app, check_output, console, err, progress_bar, user_errors
from fraudstream.io import FrameWriter
from fraudstream.io.dataset import PRESETS, Dataset, load_dataset, parse_mapping
from fraudstream.terminal import working

DataOpt = Annotated[Path, typer.Option("--data", help="Transaction history (.csv, .csv.gz or .parquet).")]
LabelsOpt = Annotated[
    Path | None,
    typer.Option("--labels", help="Separate labels file: transaction_id, optionally is_fraud and reported_at."),
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        metavar="FIELD=COLUMN",
        help="A field from a column of another name, repeatable (e.g. --map amount=Amount --map is_fraud=Class).",
    ),
]
PresetOpt = Annotated[
    str | None, typer.Option("--preset", metavar="|".join(PRESETS), help="A known file shape (its columns mapped).")
]
ExtraOpt = Annotated[
    list[str] | None,
    typer.Option("--extra", metavar="GLOB", help="Numeric columns to pass through as features (repeatable)."),
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


def load_data(
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
    with working(err, f"reading {data}"):
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
    with user_errors():
        dataset = load_data(data, labels, map_, preset, extra, time_unit, start, label_delay_days, on_error)
        with working(err, "computing features and training"):
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
    with user_errors():
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
    with user_errors():
        dataset = load_data(data, labels, map_, preset, extra, time_unit, start, label_delay_days, on_error)
        with working(err, "computing features, training and testing"):
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

    check_output(out)
    with user_errors():
        trained = Model.load(model)
        dataset = load_data(data, labels, map_, preset, extra, time_unit, start, label_delay_days, on_error)
        if dataset.labels is None and set(trained.features.names) & LABEL_FEATURES:
            _print_warnings(
                [
                    "no labels: the features about known fraud read as if none was ever reported; give --labels "
                    "(or map is_fraud) for the scores the model gives with what was known"
                ]
            )
        events = len(dataset.transactions) + (0 if dataset.labels is None else len(dataset.labels))
        with FrameWriter(out) as writer, progress_bar() as progress:
            task = progress.add_task("scoring", total=events, rows=0)
            for frame in scored_history(trained, dataset, reasons, chunk):
                writer.write(frame)
                progress.update(task, advance=chunk, rows=writer.rows)
    console.print(f"wrote {writer.rows:,} scored transactions to [bold]{out}[/] (model {trained.version})")
