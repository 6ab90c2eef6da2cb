"""`fraudstream rules`, `fraudstream lists` and `fraudstream backtest`: the ruleset and the
lists, in the database every running process reads them from, and a ruleset tried on history."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from fraudstream.cli.app import Database, app, console, err, open_store, user_errors
from fraudstream.cli.model import (
    DelayOpt,
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
from fraudstream.rules.lists import ListAction, ListKind
from fraudstream.terminal import working

if TYPE_CHECKING:
    from fraudstream.store import Store

rules_app = typer.Typer(help="Check, apply and show the ruleset.", no_args_is_help=True, rich_markup_mode=None)
lists_app = typer.Typer(help="Allow, block and watch lists.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(rules_app, name="rules")
app.add_typer(lists_app, name="lists")

ModelDir = Annotated[
    Path | None, typer.Option("--model", help="Check feature names against this model (default: every feature).")
]


def _feature_names(model: Path | None) -> list[str]:
    if model is None:
        from fraudstream.features import FEATURES

        return list(FEATURES)
    from fraudstream.model.artifact import Model

    return list(Model.load(model).features.names)


def _check(path: Path, model: Path | None, store: Store | None) -> int:
    """Print the ruleset's rules, or each problem on a line of its own (exit 2); the rules enabled."""
    from fraudstream.rules.document import RulesetError, load_ruleset
    from fraudstream.rules.policy import compile_policy

    try:
        document = load_ruleset(path)
        known = None if store is None else {info.name for info in store.policies.lists()}
        policy = compile_policy(document, _feature_names(model), known_lists=known)
    except RulesetError as exc:
        for problem in exc.problems:
            err.print(f"[red]error:[/] {problem}", markup=True, highlight=False)
        raise typer.Exit(2) from None
    for rule in document.rules:
        state = "off" if not rule.enabled else rule.mode
        console.print(f"  {rule.id:<28} {rule.action_name:<10} {state:<7} {rule.when}", markup=False)
    return len(policy.rules)


@rules_app.command("check")
def rules_check(
    path: Annotated[Path, typer.Argument(help="A ruleset file (YAML).", metavar="PATH")],
    model: ModelDir = None,
    database: Annotated[
        str | None, typer.Option("--database", help="Also check that the lists it names exist in this database.")
    ] = None,
) -> None:
    """Check a ruleset file: structure, syntax, fields, types (and lists, with --database); exit 2
    with each problem's rule and position."""
    with user_errors():
        enabled = _check(path, model, open_store(database) if database else None)
    unchecked = [] if database else ["lists not checked (give --database)"]
    unchecked += [] if model else ["fields checked against every feature (give --model for a model's)"]
    console.print(f"ok: {enabled} enabled rules" + "".join(f"; {note}" for note in unchecked))


@rules_app.command("apply")
def rules_apply(
    path: Annotated[Path, typer.Argument(help="A ruleset file (YAML).", metavar="PATH")],
    model: ModelDir = None,
    database: Database = None,
) -> None:
    """Store a ruleset as the new version (unless it is the one in force): every running process
    uses it from its next batch."""
    with user_errors():
        store = open_store(database)
        _check(path, model, store)
        from fraudstream.rules.document import load_ruleset

        latest = store.policies.ruleset()
        document = load_ruleset(path)
        if latest is not None and latest.document == document.model_dump(mode="json"):
            console.print(f"ruleset version {latest.version} in force is this one already")
            return
        version = store.policies.save_ruleset(document.model_dump(mode="json"), f"file:{path.name}")
    console.print(f"ruleset version {version} stored")


@rules_app.command("show")
def rules_show(database: Database = None) -> None:
    """The ruleset in force."""
    with user_errors():
        stored = open_store(database).policies.ruleset()
    if stored is None:
        console.print("no ruleset stored: decisions follow the model's thresholds")
        return
    console.print(f"version {stored.version}, from {stored.source}, {stored.created_at:%Y-%m-%d %H:%M:%S %Z}")
    for rule in stored.document.get("rules", []):
        action = rule["action"] if isinstance(rule["action"], str) else f"score_add {rule['action']['score_add']:+g}"
        state = "off" if not rule.get("enabled", True) else rule.get("mode", "live")
        console.print(f"  {rule['id']:<28} {action:<16} {state:<7} {rule['when']}", markup=False)


def _expiry(text: str | None) -> datetime | None:
    """30d, 12h, 45m, or an ISO date or time (UTC if no zone); not in the past."""
    if text is None:
        return None
    when = _when(text)
    if when <= datetime.now(UTC):
        raise typer.BadParameter("that is already past", param_hint="--expires")
    return when


def _when(text: str) -> datetime:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([dhm])", text.strip())
    if match:
        amount, unit = float(match[1]), match[2]
        return datetime.now(UTC) + timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[unit]: amount})
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("give a duration (30d, 12h, 45m) or an ISO date", param_hint="--expires") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@lists_app.command("add")
def lists_add(
    name: Annotated[str, typer.Argument(help="The list's name.", metavar="NAME")],
    values: Annotated[list[str], typer.Argument(help="Values to add.", metavar="VALUE")],
    kind: Annotated[
        ListKind | None, typer.Option("--kind", help="What the values are; needed to create the list.")
    ] = None,
    action: Annotated[
        ListAction | None,
        typer.Option("--action", help="Make the list a tier: allow or block a match, before rules."),
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="When the entries expire: 30d, 12h, 45m or an ISO date.")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why they are on the list.")] = None,
    database: Database = None,
) -> None:
    """Add values to a list (created with --kind if it does not exist); a value already there gets
    the new expiry and note."""
    from fraudstream.rules.lists import LIST_NAME, changes, entries

    with user_errors():
        if not re.fullmatch(LIST_NAME, name):
            raise ValueError("a list name is up to 48 letters, digits, '_' or '-'")
        expires_at = _expiry(expires)
        store = open_store(database)
        info = store.policies.list_info(name)
        if info is None and kind is None:
            raise ValueError(f"there is no list {name}: give --kind to create it")
        if info is not None and (why := changes(name, info.kind, info.action, kind, action)):
            raise ValueError(why)
        kept = entries(info.kind if info is not None else kind or "", values)
        if info is None:
            store.policies.create_list(name, kind or "", action)
        added = store.policies.add_entries(name, kept, expires_at, note)
    console.print(f"{name}: {added} added, {len(set(kept)) - added} updated")


@lists_app.command("set")
def lists_set(
    name: Annotated[str, typer.Argument(help="The list's name.", metavar="NAME")],
    action: Annotated[
        Literal["allow", "block", "none"],
        typer.Option("--action", help="allow or block a match before the rules, or none: used by rules only."),
    ],
    database: Database = None,
) -> None:
    """Change what a list does."""
    with user_errors():
        store = open_store(database)
        if store.policies.list_info(name) is None:
            raise ValueError(f"there is no list {name}")
        store.policies.set_action(name, None if action == "none" else action)
    console.print(f"{name}: {'used by rules only' if action == 'none' else f'a {action} list'}")


@lists_app.command("remove")
def lists_remove(
    name: Annotated[str, typer.Argument(help="The list's name.", metavar="NAME")],
    values: Annotated[list[str], typer.Argument(help="Values to remove.", metavar="VALUE")],
    database: Database = None,
) -> None:
    """Remove values from a list."""
    from fraudstream.rules.lists import normalised

    with user_errors():
        store = open_store(database)
        info = store.policies.list_info(name)
        if info is None:
            raise ValueError(f"there is no list {name}")
        removed = store.policies.remove_entries(name, [normalised(info.kind, v) for v in values])
    console.print(f"{name}: {removed} removed")


@lists_app.command("show")
def lists_show(
    name: Annotated[str | None, typer.Argument(help="A list (default: every list).", metavar="NAME")] = None,
    expired: Annotated[bool, typer.Option("--expired", help="Include entries past their expiry.")] = False,
    database: Database = None,
) -> None:
    """The lists, or one list's entries."""
    from fraudstream.store.policies import UnknownListError

    with user_errors():
        store = open_store(database)
        if name is None:
            for info in store.policies.lists():
                tier = info.action or "rules only"
                console.print(f"{info.name:<28} {info.kind:<9} {tier:<10} {info.entries:>8,} entries", markup=False)
            return
        try:
            entries = store.policies.entries(name, include_expired=expired)
        except UnknownListError:
            raise ValueError(f"there is no list {name}") from None
    for entry in entries:
        until = "never" if entry.expires_at is None else f"{entry.expires_at:%Y-%m-%d %H:%M %Z}"
        console.print(f"{entry.value:<40} expires {until:<22} {entry.note or ''}", markup=False)


@app.command()
def backtest(
    rules: Annotated[Path, typer.Option("--rules", help="The ruleset to test (YAML).")],
    model: Annotated[Path | None, typer.Option("--model", help="Model directory (env FRAUDSTREAM_MODEL_PATH).")] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Transaction history (.csv, .csv.gz or .parquet).")
    ] = None,
    from_store: Annotated[
        bool, typer.Option("--from-store", help="Test on the history the service stored (see --database).")
    ] = False,
    labels: LabelsOpt = None,
    map_: MapOpt = None,
    preset: PresetOpt = None,
    extra: ExtraOpt = None,
    time_unit: TimeUnitOpt = "auto",
    start: StartOpt = None,
    label_delay_days: DelayOpt = None,
    on_error: OnErrorOpt = "raise",
    since: Annotated[
        datetime | None, typer.Option("--since", formats=["%Y-%m-%d"], help="Count payments from this day (UTC).")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option("--until", formats=["%Y-%m-%d"], help="Count payments before this day (UTC).")
    ] = None,
    review_cost: Annotated[float, typer.Option("--review-cost", min=0.0, help="What one review costs.")] = 0.0,
    customer_value: Annotated[
        float, typer.Option("--customer-value", min=0.0, help="What declining a good customer's payment loses.")
    ] = 0.0,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of writing a report.")
    ] = False,
    out: Annotated[Path, typer.Option("--out", help="Folder for the HTML report.")] = Path("backtest"),
    database: Database = None,
) -> None:
    """Replay a history through the features, the model and a ruleset: what each rule catches,
    what it costs, against the model alone and the ruleset in force."""
    import json

    from fraudstream.model.artifact import Model
    from fraudstream.rules.backtest import backtest as run_backtest
    from fraudstream.rules.document import load_ruleset
    from fraudstream.rules.in_force import PolicyInForce
    from fraudstream.rules.policy import compile_policy
    from fraudstream.rules.report import backtest_html

    with user_errors():
        if (data is None) == (not from_store):
            raise ValueError("give --data PATH or --from-store")
        settings = Settings.model_validate(
            {k: v for k, v in {"model_path": model, "database_url": database}.items() if v}
        )
        if settings.model_path is None:
            raise ValueError("no model: give --model DIR (or set FRAUDSTREAM_MODEL_PATH)")
        trained = Model.load(settings.model_path)
        store = open_store(database)
        in_force = PolicyInForce(store.policies, trained.features.names)
        in_force.refresh(force=True)  # the lists, and the ruleset in force to compare with
        # The lists' allow and block tiers apply whatever the rules: to the tested ruleset too.
        tested = compile_policy(
            load_ruleset(rules), trained.features.names, known_lists=set(in_force.lists), tiers=in_force.tiers
        )
        policies = {"tested": tested}
        if in_force.policy.rules:
            policies["in force"] = in_force.policy
        if from_store:
            from fraudstream.io.stored import stored_dataset

            dataset = stored_dataset(store)
        else:
            assert data is not None
            dataset = load_data(data, labels, map_, preset, extra, time_unit, start, label_delay_days, on_error)
        first, end = (None if day is None else day.replace(tzinfo=UTC) for day in (since, until))
        with working(err, f"replaying {len(dataset.transactions):,} transactions"):
            as_of = datetime.now(UTC) if from_store else None  # a file: its latest payment or label
            result = run_backtest(trained, dataset, policies, "tested", in_force.lists, first, end, as_of=as_of)
    summary = result.to_json(review_cost, customer_value)
    summary["ruleset"] = str(rules)
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {warning}")
    if json_out:
        console.print_json(json.dumps(summary))
        return
    out.mkdir(parents=True, exist_ok=True)
    (out / "backtest.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "index.html").write_text(backtest_html(summary, f"Backtest of {rules.name}"))
    for p in summary["policies"]:
        console.print(
            f"{p['name']:<10} stops {p['fraud_stopped']:>6,} frauds ({p['fraud_stopped_amount']:>14,.0f})"
            f"  false positives {p['false_positives']:>7,} ({p['false_positive_amount']:>14,.0f})"
            f"  reviews/day {p['reviews_per_day'] or 0:>8,.1f}  net {p['net_benefit']:>14,.0f}",
            markup=False,
        )
    console.print(f"report: [bold]{out / 'index.html'}[/]")
