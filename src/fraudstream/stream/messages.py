"""Messages into transactions and labels, or into dead letters that say why not."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from fraudstream.schema import Label, Transaction, received_now
from fraudstream.stream.base import DeadLetter, Message

__all__ = ["Reader", "describe_errors", "refused"]

log = logging.getLogger(__name__)

W = TypeVar("W", bound=BaseModel)


def describe_errors(error: ValidationError) -> str:
    """Pydantic errors as one line a person reads: 'amount: Input should be ...; currency: ...'."""
    parts = []
    for e in error.errors(include_url=False):
        where = ".".join(str(p) for p in e["loc"]) or "message"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


def refused(error: BaseException) -> str:
    """A dead letter's detail for what the database refused: the error's class only (its
    message may quote the values it refused)."""
    return f"the database refused it ({type(error).__name__})"


@dataclass(frozen=True)
class Reader:
    """Reads messages of at most `max_bytes`, with times at most `max_future` ahead of the clock."""

    max_bytes: int
    max_future: timedelta

    def transactions(self, messages: list[Message], letters: list[DeadLetter]) -> list[tuple[Transaction, Message]]:
        context = received_now(self.max_future)
        return [(tx, m) for m in messages if (tx := self.read(m, Transaction, letters, context)) is not None]

    def labels(self, messages: list[Message], letters: list[DeadLetter]) -> list[tuple[Label, Message]]:
        context = received_now(self.max_future)
        return [(label, m) for m in messages if (label := self.read(m, Label, letters, context)) is not None]

    def read(self, message: Message, model: type[W], letters: list[DeadLetter], context: dict[str, Any]) -> W | None:
        """The message as `model`, or None with its dead letter: too large, not JSON, invalid."""
        if len(message.value) > self.max_bytes:
            letters.append(DeadLetter(message, "too_large", f"{len(message.value)} bytes > {self.max_bytes}"))
            return None
        invalid = f"invalid_{model.__name__.lower()}"
        try:
            # Straight from the bytes: pydantic's own JSON parser, not json.loads and then validation.
            return model.model_validate_json(message.value, context=context)
        except ValidationError as exc:
            not_json = any(e["type"] == "json_invalid" for e in exc.errors(include_url=False))
            letters.append(DeadLetter(message, "invalid_json" if not_json else invalid, describe_errors(exc)))
        except Exception as exc:  # a message that can never succeed must not stop the ones behind it
            log.warning("a message failed validation unexpectedly", exc_info=True)
            letters.append(DeadLetter(message, invalid, f"could not be read: {type(exc).__name__}"))
        return None
