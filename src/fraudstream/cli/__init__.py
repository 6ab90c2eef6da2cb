"""The `fraudstream` command line: one module per group of commands, on one application."""

from fraudstream.cli import data, model, models, serve, kafka, rules  # noqa: I001 - the order of the commands in --help
from fraudstream.cli.app import app

__all__ = ["app", "main"]

# Imported for their commands, which they add to `app`.
_COMMANDS = (data, model, models, serve, kafka, rules)


def main() -> None:
    app()
