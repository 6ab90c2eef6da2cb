"""Backtesting a ruleset: replay a history through the same point-in-time features, model and
compiled rules as live scoring, and count what each rule and each policy would have done.

Money is the transaction amount. A transaction is fraud if a label says so (whenever it
was reported: a backtest judges with everything known now). A policy *stops* fraud it
declines or sends to review (reviewers are assumed to catch it); what it costs is the
reviews it asks for and the good customers it declines:

    net benefit = fraud money stopped - review cost x reviews - lost customer value x good payments declined
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from fraudstream.features import FeatureEngine
from fraudstream.features.engine import history_events
from fraudstream.io.dataset import Dataset
from fraudstream.model.artifact import Model
from fraudstream.rules.fields import TRANSACTION_FIELDS, table_columns
from fraudstream.rules.policy import Lists, Policy, Verdicts
from fraudstream.schema import Outcome

__all__ = ["BacktestResult", "PolicyTally", "Replayed", "RuleTally", "backtest", "replay"]

MS_PER_DAY = 86_400_000


@dataclass
class RuleTally:
    """What one rule of the tested policy fired on."""

    id: str
    action: str
    mode: str
    hits: int = 0
    fraud_hits: int = 0
    fraud_amount: float = 0.0
    good_amount: float = 0.0
    #: Hits the model's thresholds alone did not flag: what the rule adds.
    beyond_model: int = 0
    fraud_beyond_model: int = 0
    by_day: dict[str, int] = field(default_factory=dict)

    def summary(self, frauds: int, days: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "mode": self.mode,
            "hits": self.hits,
            "hits_per_day": round(self.hits / days, 2) if days else None,
            "precision": round(self.fraud_hits / self.hits, 4) if self.hits else None,
            "recall": round(self.fraud_hits / frauds, 4) if frauds else None,
            "fraud_hits": self.fraud_hits,
            "fraud_amount": round(self.fraud_amount, 2),
            "good_amount": round(self.good_amount, 2),
            "beyond_model": self.beyond_model,
            "fraud_beyond_model": self.fraud_beyond_model,
            "by_day": dict(sorted(self.by_day.items())),
        }


@dataclass
class PolicyTally:
    """What a whole policy's outcomes would have been."""

    name: str
    version: int | None
    outcomes: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in Outcome})
    fraud_stopped: int = 0
    fraud_stopped_amount: float = 0.0
    fraud_missed: int = 0
    fraud_missed_amount: float = 0.0
    good_declined: int = 0
    good_declined_amount: float = 0.0
    good_reviewed: int = 0
    good_reviewed_amount: float = 0.0

    def summary(self, days: float, review_cost: float, customer_value: float) -> dict[str, Any]:
        reviews = self.outcomes[Outcome.REVIEW.value]
        benefit = self.fraud_stopped_amount - review_cost * reviews - customer_value * self.good_declined
        return {
            "name": self.name,
            "ruleset_version": self.version,
            "outcomes": dict(self.outcomes),
            "fraud_stopped": self.fraud_stopped,
            "fraud_stopped_amount": round(self.fraud_stopped_amount, 2),
            "fraud_missed": self.fraud_missed,
            "fraud_missed_amount": round(self.fraud_missed_amount, 2),
            "false_positives": self.good_declined + self.good_reviewed,
            "false_positive_amount": round(self.good_declined_amount + self.good_reviewed_amount, 2),
            "good_declined": self.good_declined,
            "good_declined_amount": round(self.good_declined_amount, 2),
            "reviews_per_day": round(reviews / days, 2) if days else None,
            "net_benefit": round(benefit, 2),
        }


@dataclass
class BacktestResult:
    transactions: int
    frauds: int
    fraud_amount: float
    first: datetime | None
    last: datetime | None
    rules: list[RuleTally]
    policies: list[PolicyTally]
    model_version: str
    #: What the figures cannot be trusted for, in words (in-sample payments, labels not in yet).
    warnings: list[str] = field(default_factory=list)

    @property
    def days(self) -> float:
        if self.first is None or self.last is None:
            return 0.0
        return max((self.last - self.first).total_seconds() / 86_400, 1 / 24)

    def to_json(self, review_cost: float = 0.0, customer_value: float = 0.0) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "window": {
                "first": None if self.first is None else self.first.isoformat(),
                "last": None if self.last is None else self.last.isoformat(),
                "days": round(self.days, 2),
            },
            "transactions": self.transactions,
            "labelled_fraud": self.frauds,
            "labelled_fraud_amount": round(self.fraud_amount, 2),
            "costs": {"review_cost": review_cost, "lost_customer_value": customer_value},
            "warnings": list(self.warnings),
            "rules": [r.summary(self.frauds, self.days) for r in self.rules],
            "policies": [p.summary(self.days, review_cost, customer_value) for p in self.policies],
        }


def _is_fraud(dataset: Dataset) -> pd.Series:
    """Per transaction id: whether any label says fraud."""
    if dataset.labels is None or not len(dataset.labels):
        return pd.Series(dtype=bool)
    return dataset.labels.groupby("transaction_id")["is_fraud"].any()


@dataclass(frozen=True)
class Replayed:
    """A chunk of the history, decided by every policy: one entry per transaction."""

    transaction_ids: npt.NDArray[np.object_]
    ts_ms: npt.NDArray[np.int64]
    amount: npt.NDArray[np.float64]
    fraud: npt.NDArray[np.bool_]
    scores: npt.NDArray[np.float64]
    verdicts: dict[str, Verdicts]


def replay(
    model: Model,
    dataset: Dataset,
    policies: Mapping[str, Policy],
    lists: Lists | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    chunk: int = 200_000,
) -> Iterator[Replayed]:
    """The history's transactions in [since, until), in time order and in chunks, with each
    policy's verdicts: features point in time over the whole history (the window's first
    transactions have their past), the model's scores, the compiled rules."""
    model.check_inputs(dataset.inputs, dataset.extras)
    transactions = dataset.transactions
    fraud_by_id = _is_fraud(dataset)
    fields = sorted({c for p in policies.values() for c in p.columns} & set(TRANSACTION_FIELDS))
    needed = sorted({c for p in policies.values() for c in p.columns})
    events, order = history_events(transactions, dataset.labels, model.features.extras)
    engine = FeatureEngine(model.features)
    thresholds = (model.thresholds.review, model.thresholds.decline)
    lo = None if since is None else int(pd.Timestamp(since).value // 1_000_000)
    hi = None if until is None else int(pd.Timestamp(until).value // 1_000_000)
    for start in range(0, len(events), chunk):
        part = events.take(np.arange(start, min(start + chunk, len(events))))
        X = engine.process(part)
        paid = ~part.is_label
        rows, ts = order[start : start + len(part)][paid], part.ts_ms[paid]
        keep = np.ones(len(ts), dtype=bool)
        if lo is not None:
            keep &= ts >= lo
        if hi is not None:
            keep &= ts < hi
        if not keep.any():
            continue
        rows, ts, X = rows[keep], ts[keep], X[keep]
        table = transactions.iloc[rows]
        ids = table["transaction_id"].to_numpy(dtype=object)
        fraud = table["transaction_id"].map(fraud_by_id).fillna(False).to_numpy(dtype=bool)
        scores = model.predict(X)
        columns = table_columns({c: table[c] for c in fields if c in table}, X, model.features.names, scores, needed)
        verdicts = {name: p.verdicts(columns, scores, thresholds, lists or {}) for name, p in policies.items()}
        yield Replayed(ids, ts, table["amount"].to_numpy(dtype=float), fraud, scores, verdicts)


def backtest(
    model: Model,
    dataset: Dataset,
    policies: Mapping[str, Policy],
    tested: str,
    lists: Lists | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    chunk: int = 200_000,
    as_of: datetime | None = None,
) -> BacktestResult:
    """Tallies of `replay` for each policy and the model alone ("model"), and rule by rule
    for the policy named `tested`. `as_of`: when the labels were last looked at (default: the
    history's latest payment or label), for the payments too young to be labelled yet."""
    every = {"model": Policy(), **policies}
    tallies = {name: PolicyTally(name, p.version) for name, p in every.items()}
    rules = [RuleTally(c.rule.id, c.rule.action_name, c.rule.mode) for c in every[tested].rules]
    counted = frauds = in_training = unripe = 0
    fraud_amount = 0.0
    first: int | None = None
    last: int | None = None
    trained_until = _ms(model.info.get("training", {}).get("end"))
    ripe_before = int(pd.Timestamp(as_of or _latest(dataset)).value // 1_000_000)
    ripe_before -= int(model.features.label_delay_days * MS_PER_DAY)
    for part in replay(model, dataset, every, lists, since, until, chunk):
        for name, v in part.verdicts.items():
            _count_policy(tallies[name], v.outcomes, part.fraud, part.amount)
        model_flagged = part.verdicts["model"].outcomes != Outcome.APPROVE
        _count_rules(rules, part.verdicts[tested].fired, part.fraud, part.amount, model_flagged, part.ts_ms)
        counted += len(part.ts_ms)
        frauds += int(part.fraud.sum())
        fraud_amount += float(part.amount[part.fraud].sum())
        in_training += 0 if trained_until is None else int((part.ts_ms <= trained_until).sum())
        unripe += int((part.ts_ms > ripe_before).sum())
        first = int(part.ts_ms.min()) if first is None else min(first, int(part.ts_ms.min()))
        last = int(part.ts_ms.max()) if last is None else max(last, int(part.ts_ms.max()))
    return BacktestResult(
        counted,
        frauds,
        fraud_amount,
        None if first is None else pd.Timestamp(first, unit="ms", tz="UTC").to_pydatetime(),
        None if last is None else pd.Timestamp(last, unit="ms", tz="UTC").to_pydatetime(),
        rules,
        list(tallies.values()),
        model.version,
        _warnings(counted, in_training, unripe, model),
    )


def _ms(when: Any) -> int | None:
    return None if when is None else int(pd.Timestamp(when).value // 1_000_000)


def _latest(dataset: Dataset) -> pd.Timestamp:
    """The latest time the history knows of: its last payment or label."""
    times = [pd.Timestamp(dataset.transactions["timestamp"].max())]
    if dataset.labels is not None and len(dataset.labels):
        times.append(pd.Timestamp(dataset.labels["reported_at"].max()))
    return max(times)


def _warnings(counted: int, in_training: int, unripe: int, model: Model) -> list[str]:
    if not counted:
        return ["no payment in the window: nothing to count"]
    said = []
    if in_training:
        said.append(
            f"{in_training:,} of the {counted:,} payments ({in_training / counted:.0%}) are in the model's training "
            "window: it has seen them, so the model's figures there are optimistic"
        )
    if unripe:
        delay = model.features.label_delay_days
        said.append(
            f"{unripe:,} payments ({unripe / counted:.0%}) are younger than the label delay ({delay:g} days): "
            "their fraud may not be reported yet, so they count as good here"
        )
    return said


def _count_policy(
    tally: PolicyTally, outcomes: npt.NDArray[np.object_], fraud: npt.NDArray[np.bool_], amount: npt.NDArray[np.float64]
) -> None:
    declined = outcomes == Outcome.DECLINE
    reviewed = outcomes == Outcome.REVIEW
    stopped = declined | reviewed
    for outcome in Outcome:
        tally.outcomes[outcome.value] += int((outcomes == outcome).sum())
    tally.fraud_stopped += int((stopped & fraud).sum())
    tally.fraud_stopped_amount += float(amount[stopped & fraud].sum())
    tally.fraud_missed += int((~stopped & fraud).sum())
    tally.fraud_missed_amount += float(amount[~stopped & fraud].sum())
    tally.good_declined += int((declined & ~fraud).sum())
    tally.good_declined_amount += float(amount[declined & ~fraud].sum())
    tally.good_reviewed += int((reviewed & ~fraud).sum())
    tally.good_reviewed_amount += float(amount[reviewed & ~fraud].sum())


def _count_rules(
    rules: list[RuleTally],
    fired: npt.NDArray[np.bool_],
    fraud: npt.NDArray[np.bool_],
    amount: npt.NDArray[np.float64],
    model_flagged: npt.NDArray[np.bool_],
    ts: npt.NDArray[np.int64],
) -> None:
    days = (ts // MS_PER_DAY).astype("datetime64[D]").astype(str)
    for j, tally in enumerate(rules):
        hit = fired[:, j]
        if not hit.any():
            continue
        tally.hits += int(hit.sum())
        tally.fraud_hits += int((hit & fraud).sum())
        tally.fraud_amount += float(amount[hit & fraud].sum())
        tally.good_amount += float(amount[hit & ~fraud].sum())
        tally.beyond_model += int((hit & ~model_flagged).sum())
        tally.fraud_beyond_model += int((hit & ~model_flagged & fraud).sum())
        for day, count in zip(*np.unique(days[hit], return_counts=True), strict=True):
            tally.by_day[str(day)] = tally.by_day.get(str(day), 0) + int(count)
