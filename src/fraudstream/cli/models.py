"""`fraudstream models`: the registry of model versions and which one is the champion."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fraudstream.cli.app import Database, app, console, err, open_store, user_errors
from fraudstream.cli.model import (
    DataOpt,
    ExtraOpt,
    LabelsOpt,
    MapOpt,
    OnErrorOpt,
    PresetOpt,
    StartOpt,
    TimeUnitOpt,
    load_data,
)
from fraudstream.config import Settings

if TYPE_CHECKING:
    from fraudstream.lifecycle.registry import Registry
    from fraudstream.store import Store

models_app = typer.Typer(
    help="Registered model versions and the champion.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(models_app, name="models")

ModelsDir = Annotated[
    Path | None, typer.Option("--models", help="The registry (env FRAUDSTREAM_MODELS; default: var/models).")
]
Version = Annotated[
    str, typer.Argument(help="A registered version (see `fraudstream models list`).", metavar="VERSION")
]


def _open(models: Path | None, database: str | None) -> tuple[Registry, Store]:
    from fraudstream.lifecycle.registry import Registry

    settings = Settings.model_validate({"models": models} if models else {})
    return Registry(settings.models_dir), open_store(database)


@models_app.command("list")
def models_list(models: ModelsDir = None, database: Database = None) -> None:
    """Registered versions, newest first; * marks the champion, ~ the challenger."""
    with user_errors():
        registry, store = _open(models, database)
        champion, challenger = store.champions.champion(), store.champions.challenger()
        found = registry.versions()
    if not found:
        console.print(f"no model registered in {registry.root}: `fraudstream models add DIR`")
        return
    for entry in found:
        s = entry.summary()
        ap = "–" if s["average_precision"] is None else f"{s['average_precision']:.3f}"
        rows = s["training"]["rows"]
        mark = "*" if entry.version == champion else "~" if entry.version == challenger else " "
        line = f"{mark} {entry.version:<32} {s['created_at'] or '':<26} validation AP {ap:<6} {rows or 0:>10,} rows"
        console.print(line, markup=False)


@models_app.command("show")
def models_show(version: Version, models: ModelsDir = None, database: Database = None) -> None:
    """A version as JSON: its training window, validation figures, thresholds and promotions."""
    import json

    with user_errors():
        registry, store = _open(models, database)
        entry = registry.get(version)
        model = registry.load(version)
        promotions = [p for p in store.champions.history(500) if p.version == version]
    shown = {
        **entry.summary(),
        "thresholds": model.thresholds.to_json(),
        "label_delay_days": model.features.label_delay_days,
        "champion": store.champions.champion() == version,
        "challenger": store.champions.challenger() == version,
        "promotions": [{"at": p.promoted_at.isoformat(), "reason": p.reason} for p in promotions],
    }
    console.print_json(json.dumps(shown, default=str))


@models_app.command("add")
def models_add(
    directory: Annotated[Path, typer.Argument(help="A model folder (`fraudstream train --out`).", metavar="DIR")],
    promote: Annotated[bool, typer.Option("--promote", help="Make it the champion too.")] = False,
    models: ModelsDir = None,
    database: Database = None,
) -> None:
    """Register a trained model under its version."""
    with user_errors():
        registry, store = _open(models, database)
        version = registry.add(directory)
        if promote:
            store.champions.promote(version, f"added from {directory.name}")
    console.print(f"registered {version}" + (", the champion now" if promote else ""))


@models_app.command("promote")
def models_promote(
    version: Version,
    reason: Annotated[str, typer.Option("--reason", help="Why, for the history.")] = "promoted by hand",
    models: ModelsDir = None,
    database: Database = None,
) -> None:
    """Make a registered version the champion: every process following it switches at its next batch."""
    with user_errors():
        registry, store = _open(models, database)
        registry.load(version)  # it must load before it may serve
        if store.champions.champion() == version:
            console.print(f"{version} is the champion already")
            return
        store.champions.promote(version, reason)
        if store.champions.challenger() == version:
            store.champions.set_challenger(None, f"{version} promoted")
    console.print(f"{version} is the champion")


@models_app.command("challenger")
def models_challenger(
    version: Annotated[
        str | None, typer.Argument(help="A registered version; none given: no challenger.", metavar="VERSION")
    ] = None,
    models: ModelsDir = None,
    database: Database = None,
) -> None:
    """Score every batch in shadow with a version too (stored beside each decision, never published)."""
    with user_errors():
        registry, store = _open(models, database)
        if version is not None:
            registry.load(version)
            if version == store.champions.champion():
                raise ValueError(f"{version} is the champion: a challenger is another version")
        store.champions.set_challenger(version, "set by hand")
    console.print(f"{version} scores in shadow" if version else "no challenger")


@models_app.command("rollback")
def models_rollback(models: ModelsDir = None, database: Database = None) -> None:
    """Make the champion before the current one the champion again; again, the one before that."""
    with user_errors():
        registry, store = _open(models, database)
        current, previous = store.champions.rollback_target()
        if current is None:
            raise ValueError("no champion yet: nothing to roll back")
        if previous is None:
            raise ValueError(f"{current} is the only champion there has been: nothing to roll back to")
        registry.load(previous)
        store.champions.promote(previous, f"{ROLLBACK}{current}")
    console.print(f"{previous} is the champion again (was {current})")


ROLLBACK = "rollback from "
#: `retrain`'s exit status when the champion was kept (0: promoted).
KEPT = 3


@app.command()
def retrain(
    since: Annotated[float, typer.Option("--since-days", min=1, help="Days of stored history to use.")] = 60,
    test_days: Annotated[
        float, typer.Option("--test-days", min=1, help="Days of matured payments the two models are judged on.")
    ] = 14,
    ap_margin: Annotated[
        float, typer.Option("--ap-margin", help="How much better the challenger's average precision must be.")
    ] = 0.0,
    recall_margin: Annotated[
        float, typer.Option("--recall-margin", min=0, help="How much worse its recall at the review budget may be.")
    ] = 0.0,
    promote: Annotated[
        bool, typer.Option("--promote/--no-promote", help="Promote the challenger if it is better.")
    ] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print the comparison as one JSON object.")] = False,
    models: ModelsDir = None,
    database: Database = None,
) -> None:
    """Train a challenger on the stored history (labels as they matured), judge it against the
    champion on the latest matured window, register it, and promote it if it is better.
    Exit status: 0 promoted, 3 champion kept."""
    import json

    from fraudstream.lifecycle.retrain import RetrainConfig
    from fraudstream.lifecycle.retrain import retrain as run_retrain
    from fraudstream.terminal import working

    with user_errors():
        registry, store = _open(models, database)
        config = RetrainConfig(since, test_days, ap_margin, recall_margin, promote)
        with working(err, "training a challenger on the stored history"):
            result = run_retrain(store, registry, config)
    if json_out:
        console.print_json(json.dumps(result.to_json()))
    else:
        console.print(result.markdown(), markup=False)
        console.print(f"report: {registry.get(result.challenger).path / 'comparison.md'}", markup=False)
    if not result.promoted:
        raise typer.Exit(KEPT)


@app.command()
def drift(
    model: Annotated[Path, typer.Option("--model", help="Model directory (from `train`).")],
    data: DataOpt,
    labels: LabelsOpt = None,
    map_: MapOpt = None,
    preset: PresetOpt = None,
    extra: ExtraOpt = None,
    time_unit: TimeUnitOpt = "auto",
    start: StartOpt = None,
    on_error: OnErrorOpt = "raise",
    since: Annotated[
        datetime | None,
        typer.Option(
            "--since",
            formats=["%Y-%m-%d"],
            help="Judge payments from this day (UTC); earlier ones fill the windows.",
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Features to list, the most drifted first.")] = 15,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """How far a history's features and scores have moved from the model's training data (PSI).

    Features over windows of up to 30 days need the 30 days before: give a history that starts a
    month before the days to judge, and --since the first of them."""
    import json

    import pandas as pd

    from fraudstream.features import FeatureEngine
    from fraudstream.model.artifact import Model
    from fraudstream.monitoring.drift import psi_of
    from fraudstream.terminal import working

    with user_errors():
        trained = Model.load(model)
        ref = trained.info.get("drift_reference")
        if not ref:
            raise ValueError(f"{model} was trained before drift references were kept: retrain it")
        dataset = load_data(data, labels, map_, preset, extra, time_unit, start, None, on_error)
        trained.check_inputs(dataset.inputs, dataset.extras)
        with working(err, f"computing features of {len(dataset.transactions):,} transactions"):
            X = FeatureEngine(trained.features).history(dataset.transactions, dataset.labels)
        if since is not None:  # the earlier payments only warmed the 30-day windows
            judged = (dataset.transactions["timestamp"] >= pd.Timestamp(since, tz="UTC")).to_numpy()
            if not judged.any():
                raise ValueError("no payment on or after --since")
            X = X[judged]
        names = list(trained.features.names)
        by_feature = {n: psi_of(ref["features"][n], X[:, j]) for j, n in enumerate(names) if n in ref["features"]}
        score = psi_of(ref["score"], trained.predict(X))
    ranked = sorted(by_feature.items(), key=lambda item: -item[1])
    if json_out:
        console.print_json(json.dumps({"model": trained.version, "score_psi": score, "feature_psi": dict(ranked)}))
        return

    def level(value: float) -> str:
        return "drifted" if value > 0.25 else "watch" if value > 0.1 else "stable"

    console.print(f"score                                    PSI {score:7.3f}  {level(score)}", markup=False)
    for name, value in ranked[:top]:
        console.print(f"{name:<40} PSI {value:7.3f}  {level(value)}", markup=False)
