"""Labels from the stream into the store and the feature state, or into dead letters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fraudstream.decide.service import DecisionService
from fraudstream.schema import Label
from fraudstream.store import LabelsBeforePaymentError, UnknownTransactionsError, refused_for_data
from fraudstream.stream.base import DeadLetter, Message
from fraudstream.stream.messages import refused

__all__ = ["store_labels"]

Retry = Callable[[str, Callable[[], Any]], Any]


def store_labels(
    service: DecisionService, labels: list[tuple[Label, Message]], letters: list[DeadLetter], retry: Retry
) -> None:
    """Store and fold labels, retrying passing faults; what cannot be stored is a dead letter:
    a label of an unknown transaction, one reported before it, one the database refuses."""
    try:
        retry("labels", lambda: _store(service, labels, letters))
    except Exception as exc:
        if not refused_for_data(exc):
            raise
        for one in [[pair] for pair in labels]:  # one at a time: which does the database refuse?
            try:
                retry("labels", lambda one=one: _store(service, one, letters))  # type: ignore[misc]
            except Exception as error:
                if not refused_for_data(error):
                    raise
                letters.append(DeadLetter(one[0][1], "rejected_by_store", refused(error)))


def _store(service: DecisionService, labels: list[tuple[Label, Message]], letters: list[DeadLetter]) -> None:
    """Those of unknown transactions or reported before them become dead letters and leave
    `labels`, so that a retry does not letter them twice."""
    while labels:
        try:
            service.label([label for label, _ in labels])
            return
        except (UnknownTransactionsError, LabelsBeforePaymentError) as exc:
            ids = set(exc.ids)
            reason, detail = (
                ("unknown_transaction", "no such transaction is stored")
                if isinstance(exc, UnknownTransactionsError)
                else ("reported_before_payment", "reported_at is before its transaction's timestamp")
            )
            letters += [DeadLetter(m, reason, detail) for label, m in labels if label.transaction_id in ids]
            labels[:] = [(label, m) for label, m in labels if label.transaction_id not in ids]
