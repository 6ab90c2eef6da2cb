"""Prometheus metrics (prometheus-client), one registry per service so tests can build many."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from fraudstream.schema import Decision

__all__ = ["Metrics"]

# Latency buckets from 0.25 ms to 10 s: the interesting part is below 50 ms.
LATENCY_BUCKETS = (0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.decisions = Counter("fraudstream_decisions", "Decisions made, by outcome.", ["outcome"], registry=r)
        self.labels = Counter("fraudstream_labels", "Labels received, by verdict.", ["is_fraud", "source"], registry=r)
        self.end_to_end = Histogram(
            "fraudstream_end_to_end_seconds",
            "From the event's creation (or the request's arrival) to its decision stored and published.",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_latency = Histogram(
            "fraudstream_model_seconds",
            "Model time per batch (predict + reasons).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.features_latency = Histogram(
            "fraudstream_features_seconds", "Feature time per batch.", buckets=LATENCY_BUCKETS, registry=r
        )
        self.batch_size = Histogram(
            "fraudstream_batch_size", "Transactions per scored batch.", buckets=BATCH_BUCKETS, registry=r
        )
        self.dead_letters = Counter(
            "fraudstream_dead_letters", "Messages sent to the dead-letter sink, by reason.", ["reason"], registry=r
        )
        self.replayed = Counter(
            "fraudstream_replayed_decisions", "Transactions seen before: their stored decision was reused.", registry=r
        )
        self.conflicts = Counter(
            "fraudstream_conflicting_duplicates",
            "Transactions refused: their id was decided with another payload.",
            ["path"],
            registry=r,
        )
        self.scored_ahead = Counter(
            "fraudstream_scored_ahead",
            "Batches scored while the batch before was stored, by whether the scoring stood or was stale.",
            ["result"],
            registry=r,
        )
        self.worker_lag = Gauge("fraudstream_worker_lag", "Events waiting in the source (consumer lag).", registry=r)
        self.sink_retries = Counter(
            "fraudstream_sink_retries",
            "Retries of a failing step of a batch (decide, a sink, labels, dead letters, feature state, commit).",
            ["sink"],
            registry=r,
        )
        self.model_info = Gauge("fraudstream_model_info", "The model in use (value 1).", ["version"], registry=r)
        self.rule_hits = Counter(
            "fraudstream_rule_hits",
            "Decisions a rule (or an allow/block list) fired on, by rule, action and mode.",
            ["rule", "action", "mode"],
            registry=r,
        )
        self.feature_psi = Gauge(
            "fraudstream_feature_psi",
            "Population stability index of a feature over recent decisions against the model's training data.",
            ["feature"],
            registry=r,
        )
        self.score_psi = Gauge(
            "fraudstream_score_psi", "Population stability index of the score against training.", registry=r
        )
        self.score_psi.set(float("nan"))  # not known until enough decisions are in the window
        self.ruleset_version = Gauge(
            "fraudstream_ruleset_version", "The ruleset version in force (0: none).", registry=r
        )

    def replayed_count(self) -> int:
        """Transactions that came again and got their stored decision back, so far."""
        return int(self.registry.get_sample_value("fraudstream_replayed_decisions_total") or 0)

    def set_model(self, version: str) -> None:
        self.model_info.clear()
        self.model_info.labels(version=version).set(1)

    def observe_decisions(self, decisions: Sequence[Decision], features_ms: float, model_ms: float) -> None:
        if not decisions:
            return
        self.batch_size.observe(len(decisions))
        self.features_latency.observe(features_ms / 1000)
        self.model_latency.observe(model_ms / 1000)
        # One increment per outcome, not per decision: a labelled child's look-up and its
        # lock cost more than the counting.
        for outcome, count in Tally(decision.outcome for decision in decisions).items():
            self.decisions.labels(outcome=str(outcome)).inc(count)
        hits = Tally((hit.id, hit.action, hit.mode) for decision in decisions for hit in decision.rules)
        for (rule, action, mode), count in hits.items():
            self.rule_hits.labels(rule=rule, action=action, mode=mode).inc(count)

    def observe_drift(self, by_feature: dict[str, float], score: float) -> None:
        for feature, value in by_feature.items():
            self.feature_psi.labels(feature=feature).set(value)
        self.score_psi.set(score)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
