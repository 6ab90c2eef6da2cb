"""Commands that run fraudstream: the demo and the server (API, dashboard, stream workers)."""

from __future__ import annotations

import ipaddress
import signal
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from fraudstream import __version__
from fraudstream.cli.app import app, console, err, interrupt, user_errors
from fraudstream.cli.data import world_summary
from fraudstream.cli.model import metrics_table
from fraudstream.config import Settings
from fraudstream.io.dataset import load_dataset
from fraudstream.ports import check_port
from fraudstream.terminal import working


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
    from fraudstream.demo import hold_home, prepare, run_live

    settings = Settings()
    home = settings.home / "demo"
    console.rule("[bold]fraudstream demo")
    with user_errors():
        port = check_port(host, port)  # before the minutes of simulating and training
        lock = hold_home(home)
        demo_world = prepare(home, customers, days, seed, err)
    console.print(
        f"History: {len(demo_world.transactions):,} transactions of {customers:,} customers over {days} days "
        f"(to {demo_world.live_start:%Y-%m-%d}), {len(demo_world.labels):,} frauds labelled days later."
    )
    console.print(world_summary(demo_world.transactions, demo_world.labels))
    reused = " (model reused from an earlier run)" if demo_world.reused_model else ""
    console.print(metrics_table(demo_world.metrics), f"Model [bold]{demo_world.model.version}[/]{reused}")
    console.rule(f"[bold]live: the next days of the world at {rate:g} events/s")
    with user_errors(), lock:
        run_live(demo_world, home, host=host, port=port, rate=rate, console=console, duration=duration)
    console.print("\nstopped cleanly")


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
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="A ruleset (YAML) to put in force, unless the stored one is the same (env FRAUDSTREAM_RULES).",
        ),
    ] = None,
    challenger: Annotated[
        str | None,
        typer.Option("--challenger", help="A registered model version to score every batch in shadow too."),
    ] = None,
    models: Annotated[
        Path | None,
        typer.Option(
            "--models", help="The model registry; without --model, its champion is served (env FRAUDSTREAM_MODELS)."
        ),
    ] = None,
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
        "rules": rules,
        "challenger": challenger,
        "models": models,
    }
    with user_errors():
        settings = Settings.model_validate({k: v for k, v in overrides.items() if v is not None})
    if api and not settings.keys and not insecure and not _loopback(settings.host):
        raise typer.BadParameter(
            f"refusing to serve the API on {settings.host} without API keys: set FRAUDSTREAM_API_KEYS "
            "(or give --insecure)",
            param_hint="--host",
        )
    if metrics_port is None and not api:
        metrics_port = DEFAULT_METRICS_PORT
    with user_errors():
        # The ports first: building the runtime and warming it may take a while.
        port = check_port(settings.host, settings.port) if api else settings.port
        metrics = check_port(settings.host, metrics_port, "--metrics-port") if metrics_port is not None else None
        runtime = build_runtime(settings, workers=workers)
        if warm is not None:
            dataset = load_dataset(warm, labels_path=warm_labels)
            runtime.service.model.check_inputs(dataset.inputs, dataset.extras)
            with working(err, f"warming feature state with {len(dataset.transactions):,} transactions"):
                runtime.service.warm(dataset.transactions, dataset.labels)
    signal.signal(signal.SIGTERM, interrupt)  # docker stop, kubernetes: finish the batch, commit, exit
    with user_errors():
        if metrics is not None:
            from prometheus_client import start_http_server

            start_http_server(metrics, addr=settings.host, registry=runtime.service.metrics.registry)
        server = Server(runtime, settings.host, port, http=api)
    server.start()
    where = f"on {server.url}" if api else f"{workers} worker(s) on {settings.source}"
    follows = " (the champion, followed)" if runtime.service.models is not None else ""
    console.print(f"fraudstream {__version__} serving model [bold]{runtime.service.version}[/]{follows} {where}")
    console.print(f"decisions stored in {_shown(settings.database)}")
    if metrics is not None:
        console.print(f"Prometheus metrics on http://{settings.host}:{metrics}/metrics")
    if not api and settings.source == "memory":
        console.print("the in-process source is fed only from this process: use --source kafka to take traffic")
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
