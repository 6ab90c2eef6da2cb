"""The next batch, taken while the database stores the one before, and scored early.

A worker behind its backlog takes what has arrived while its batch is being stored and,
if it is all transactions, reads it and scores it as if that batch were folded
(`DecisionService.score_ahead`). The scoring stands only if nothing else is folded
before the next batch begins (a label, another worker thread's batch, an API call);
otherwise that batch is scored again (`DecisionService.begin`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from fraudstream.decide.batch import Batch, ScoredAhead
from fraudstream.decide.service import DecisionService
from fraudstream.schema import Transaction
from fraudstream.stream.base import TRANSACTIONS, DeadLetter, Message, Source
from fraudstream.stream.messages import Reader

__all__ = ["NextBatch", "take_next"]

log = logging.getLogger(__name__)


@dataclass
class NextBatch:
    """Messages taken early. If they are all transactions, they are read (and scored when
    that worked); otherwise they wait for their own step."""

    messages: list[Message]
    valid: list[tuple[Transaction, Message]] | None = None
    letters: list[DeadLetter] = field(default_factory=list)
    scored: ScoredAhead | None = None


def take_next(
    source: Source, reader: Reader, service: DecisionService, batch_size: int, storing: Batch
) -> NextBatch | None:
    """What has arrived, read and scored after `storing` where it is all transactions; None if nothing has."""
    messages = source.poll(batch_size, 0)
    if not messages:
        return None
    taken = NextBatch(messages)
    if any(m.topic != TRANSACTIONS for m in messages):
        return taken
    taken.valid = reader.transactions(messages, taken.letters)
    if taken.valid:
        try:
            taken.scored = service.score_ahead([tx for tx, _ in taken.valid], after=storing)
        except Exception:  # scored in its own step instead, with its retries
            log.debug("scoring ahead failed", exc_info=True)
    return taken
