"""Drift: how far live features and scores have moved from the model's training data, as the
population stability index (PSI) of each against its reference distribution.

The reference is taken when the model is trained (`reference`, kept in its manifest): quantile
bins of each feature and of the score over the latest slice of the training window, plus a
bucket for missing values. Live, `DriftMonitor` counts the same bins over a sliding window of
recent decisions (a sample of each batch, so the cost per batch is small and fixed) and gives
the PSI of each. PSI = sum over bins of (actual - expected) * ln(actual / expected); above 0.25
is commonly read as a shift worth acting on, 0.1-0.25 as one worth watching.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["BINS", "DriftMonitor", "psi", "psi_of", "reference"]

BINS = 10
#: A share below this counts as this: an empty bin would make the PSI infinite.
FLOOR = 1e-4
#: Fewer sampled decisions than this say little (a PSI over a few rows is large by chance alone).
ENOUGH = 500

FloatArray = npt.NDArray[np.float64]


def _edges(values: FloatArray) -> list[float]:
    known = values[~np.isnan(values)]
    if not len(known):
        return []
    return sorted({float(q) for q in np.quantile(known, np.linspace(0, 1, BINS + 1)[1:-1])})


#: Bins a distribution has: up to BINS of known values (fewer where quantiles coincide), then missing.
WIDTH = BINS + 1


def _counts(values: FloatArray, edges: Sequence[float]) -> FloatArray:
    """How many values fall in each bin; the last bin holds the missing ones."""
    index = np.searchsorted(np.asarray(edges, dtype=float), values, side="right")
    index[np.isnan(values)] = BINS
    return np.bincount(index, minlength=WIDTH).astype(float)


def _shares(values: FloatArray, edges: Sequence[float]) -> list[float]:
    return [float(c) for c in _counts(values, edges) / max(len(values), 1)]


def reference(X: FloatArray, names: Sequence[str], scores: FloatArray) -> dict[str, Any]:
    """The reference distributions of each feature (a column of X) and of the score."""
    features = {}
    for j, name in enumerate(names):
        edges = _edges(X[:, j])
        features[name] = {"edges": edges, "shares": _shares(X[:, j], edges)}
    edges = _edges(scores)
    return {"rows": len(scores), "features": features, "score": {"edges": edges, "shares": _shares(scores, edges)}}


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    e = np.maximum(np.asarray(expected, dtype=float), FLOOR)
    a = np.maximum(np.asarray(actual, dtype=float), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_of(ref: Mapping[str, Any], values: FloatArray) -> float:
    """The PSI of `values` against one reference distribution."""
    return psi(ref["shares"], _shares(values, ref["edges"]))


class DriftMonitor:
    """PSI of each feature and of the score over the last `window` decisions (sampled)."""

    def __init__(self, ref: Mapping[str, Any], names: Sequence[str], window: int = 20_000, sample: int = 64) -> None:
        self.names = [n for n in names if n in ref["features"]]
        self._columns = [list(names).index(n) for n in self.names]
        self._features = [ref["features"][n] for n in self.names]
        # Every feature's edges in one matrix (missing edges +inf), so a batch is binned at once.
        self._edges = np.full((len(self.names), BINS - 1), np.inf)
        for j, feature in enumerate(self._features):
            self._edges[j, : len(feature["edges"])] = feature["edges"]
        self._n_edges = np.array([len(f["edges"]) for f in self._features], dtype=np.intp)
        self._score = ref["score"]
        self.window = window
        self.sample = sample
        self._batches: deque[tuple[int, FloatArray, FloatArray]] = deque()
        self._rows = 0
        self._gauged_at = -float("inf")
        self._lock = threading.Lock()  # batches observe; the API's stats read

    def observe(self, X: FloatArray, scores: FloatArray) -> None:
        """Count a batch's rows (every k-th, at most about `sample` of them) in each feature's bins."""
        if not len(scores):
            return
        step = max(1, len(scores) // self.sample)
        rows = X[::step][:, self._columns].T  # features x rows
        # As `_counts` does column by column: the number of edges at or below each value.
        index = np.minimum((rows[:, :, None] >= self._edges[:, None, :]).sum(axis=2), self._n_edges[:, None])
        index[np.isnan(rows)] = BINS
        offsets = (np.arange(len(self.names)) * WIDTH)[:, None]
        binned = np.bincount((index + offsets).ravel(), minlength=len(self.names) * WIDTH)
        features = binned.reshape(len(self.names), WIDTH).astype(float)
        sampled = len(scores[::step])
        counted = (sampled, features, _counts(scores[::step], self._score["edges"]))
        with self._lock:
            self._batches.append(counted)
            self._rows += sampled
            while len(self._batches) > 1 and self._rows - self._batches[0][0] >= self.window:
                self._rows -= self._batches.popleft()[0]

    def top(self, n: int = 5) -> dict[str, Any]:
        """The score's PSI and the `n` most drifted features, for the dashboard."""
        by_feature, score = self.psi()
        ranked = sorted(by_feature.items(), key=lambda item: -item[1])[:n]
        features = [{"feature": f, "psi": v} for f, v in ranked]
        return {"score": score, "features": features, "rows": self._rows, "enough": self._rows >= ENOUGH}

    def due(self, every: float) -> bool:
        """Whether the gauges are due: `every` seconds since they were last set, with enough rows.
        (Its own clock: reading the PSI for the dashboard does not put the gauges off.)"""
        now = time.monotonic()
        if self._rows < ENOUGH or now - self._gauged_at < every:
            return False
        self._gauged_at = now
        return True

    def psi(self) -> tuple[dict[str, float], float]:
        """(PSI by feature, PSI of the score) over the window."""
        with self._lock:
            batches = list(self._batches)
        if not batches:
            return {}, 0.0
        features = np.sum([b[1] for b in batches], axis=0)
        scores = np.sum([b[2] for b in batches], axis=0)
        total = max(float(scores.sum()), 1.0)
        pairs = enumerate(zip(self.names, self._features, strict=True))
        by_feature = {name: psi(ref["shares"], features[j] / total) for j, (name, ref) in pairs}
        return by_feature, psi(self._score["shares"], scores / total)

    @classmethod
    def for_model(cls, info: Mapping[str, Any], names: Sequence[str]) -> DriftMonitor | None:
        """A monitor for a model whose manifest holds a reference (None: trained before drift was kept)."""
        ref = info.get("drift_reference")
        return cls(ref, names) if ref else None
