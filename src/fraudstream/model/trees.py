"""A booster's trees as flat arrays, walked by one compiled loop: scores and fast reasons.

Scoring a batch through XGBoost costs three calls (a DMatrix, `predict`, and the
approximate contributions that the reasons come from), and each call has a fixed cost
far above walking the trees of a small batch. A stream worker keeping up with its
traffic decides many small batches, and the HTTP API one transaction at a time, so
that fixed cost weighs on every decision. Here one loop does what the three calls did
(`bench/trees.py` compares them; the figures are in docs/benchmarks.md).

The results are XGBoost's own, bit for bit, not approximately (the tests compare
them): the same float32 arithmetic in the same order.

- a feature value is compared as a float32 (`value < split` goes left, a NaN takes
  the node's default direction);
- the margin is the base score's margin (with the C library's `logf`) plus each
  tree's leaf, in tree order, and the probability XGBoost's float32 sigmoid of it,
  with the C library's `expf` (numpy's vectorised float32 `exp` and `log` round
  differently);
- the contributions are Saabas's, as `pred_contribs=True, approx_contribs=True`
  computes them: each split on a row's path moves its feature by the change in the
  node's mean value (leaf values weighted by cover), summed per tree before they are
  added up; the bias column is the roots' means plus the base margin.

Only what this covers is compiled: a gbtree with `binary:logistic`, one target and
numerical splits. Any other booster gets None from `from_booster`, and the model
scores it through XGBoost as before. Exact TreeSHAP (the reasons of flagged rows)
stays XGBoost's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import xgboost as xgb
from numba import njit

__all__ = ["TreeEnsemble"]

FloatArray = npt.NDArray[np.float64]
MAX_DEPTH = 64  # the walker's room for a path: a deeper tree is left to XGBoost
EXP_CAP = np.float32(88.7)


@dataclass(frozen=True)
class TreeEnsemble:
    """Every tree's nodes, one array per attribute, child indices global (-1: a leaf)."""

    left: npt.NDArray[np.int32]
    right: npt.NDArray[np.int32]
    feature: npt.NDArray[np.int32]
    threshold: npt.NDArray[np.float32]  # a leaf's value, at a leaf
    default_left: npt.NDArray[np.bool_]
    mean: npt.NDArray[np.float32]  # the node's mean value (Saabas)
    roots: npt.NDArray[np.int32]
    base_margin: np.float32
    n_features: int

    @classmethod
    def from_booster(cls, booster: xgb.Booster) -> TreeEnsemble | None:
        """The booster's trees, or None where this walker would not give XGBoost's results."""
        learner = json.loads(booster.save_raw("json"))["learner"]
        params = learner["learner_model_param"]
        booster_json = learner["gradient_booster"]
        if (
            booster_json.get("name") != "gbtree"
            or learner["objective"].get("name") != "binary:logistic"
            or int(params.get("num_class", 0)) > 1
            or int(params.get("num_target", 1)) != 1
            or int(booster_json["model"]["gbtree_model_param"].get("num_parallel_tree", 1)) != 1
        ):
            return None
        trees = booster_json["model"]["trees"]
        if not trees or any(_has_categorical_splits(tree) for tree in trees):
            return None
        base_score = np.float32(np.asarray(json.loads(params["base_score"]), dtype=np.float32).reshape(-1)[0])
        base_margin = np.float32(_margin(base_score))  # numba hands back a Python float
        columns: dict[str, list[Any]] = {k: [] for k in ("left", "right", "feature", "threshold", "default", "mean")}
        roots: list[int] = []
        offset = 0
        for tree in trees:
            left = np.asarray(tree["left_children"], dtype=np.int32)
            right = np.asarray(tree["right_children"], dtype=np.int32)
            value = np.asarray(tree["split_conditions"], dtype=np.float32)
            columns["left"].append(np.where(left == -1, -1, left + offset))
            columns["right"].append(np.where(right == -1, -1, right + offset))
            columns["feature"].append(np.asarray(tree["split_indices"], dtype=np.int32))
            columns["threshold"].append(value)
            columns["default"].append(np.asarray(tree["default_left"], dtype=np.bool_))
            mean, depth = _node_means(left, right, value, np.asarray(tree["sum_hessian"], dtype=np.float32))
            if depth > MAX_DEPTH:
                return None
            columns["mean"].append(mean)
            roots.append(offset)
            offset += len(left)
        flat = {k: np.ascontiguousarray(np.concatenate(v)) for k, v in columns.items()}
        return cls(
            left=flat["left"],
            right=flat["right"],
            feature=flat["feature"],
            threshold=flat["threshold"],
            default_left=flat["default"],
            mean=flat["mean"],
            roots=np.asarray(roots, dtype=np.int32),
            base_margin=base_margin,
            n_features=int(params["num_feature"]),
        )

    def scores_and_contributions(self, X: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Per row: the fraud probability, and the approximate (Saabas) contributions,
        bias last, as XGBoost's `predict` and `pred_contribs=True, approx_contribs=True`."""
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected rows of {self.n_features} features, got shape {X.shape}")
        rows = np.ascontiguousarray(X, dtype=np.float32)  # as a DMatrix stores them
        scores = np.empty(len(rows), dtype=np.float32)
        contributions = np.zeros((len(rows), self.n_features + 1), dtype=np.float32)
        _walk(
            rows,
            self.left,
            self.right,
            self.feature,
            self.threshold,
            self.default_left,
            self.mean,
            self.roots,
            self.base_margin,
            scores,
            contributions,
        )
        return scores.astype(np.float64), contributions.astype(np.float64)


def _has_categorical_splits(tree: dict[str, Any]) -> bool:
    return any(tree.get("split_type", [])) or bool(tree.get("categories_nodes"))


def _node_means(
    left: npt.NDArray[np.int32], right: npt.NDArray[np.int32], value: npt.NDArray[np.float32], cover: Any
) -> tuple[npt.NDArray[np.float32], int]:
    """Each node's mean value (a leaf's own; an inner node's, its children's weighted by
    cover, in XGBoost's float32 order: left * cover, + right * cover, / own cover), and
    the tree's depth."""
    mean = np.zeros(len(left), dtype=np.float32)
    order: list[int] = []  # parents before children (pruned nodes may be reused out of id order)
    depth = {0: 0}
    stack = [0]
    while stack:
        node = stack.pop()
        order.append(node)
        if left[node] != -1:
            for child in (int(left[node]), int(right[node])):
                depth[child] = depth[node] + 1
                stack.append(child)
    for node in reversed(order):
        if left[node] == -1:
            mean[node] = value[node]
            continue
        a, b = left[node], right[node]
        result = np.float32(mean[a] * cover[a])
        result = np.float32(result + np.float32(mean[b] * cover[b]))
        mean[node] = np.float32(result / cover[node])
    return mean, max(depth.values())


@njit(cache=True)
def _margin(probability):  # type: ignore[no-untyped-def]  # numba
    # XGBoost's ProbToMargin for the logistic objective, with the C library's `logf`
    # (numpy's float32 `log` differs in the last bit for some base scores).
    return -np.log(np.float32(1.0) / probability - np.float32(1.0))


@njit(cache=True, nogil=True)
def _walk(  # type: ignore[no-untyped-def]  # numba
    X, left, right, feature, threshold, default_left, mean, roots, base_margin, scores, contributions
):
    n_features = X.shape[1]
    path_feature = np.empty(MAX_DEPTH, np.int32)  # a tree's features on the row's path ...
    path_push = np.empty(MAX_DEPTH, np.float32)  # ... and what each one added, this tree
    for i in range(X.shape[0]):
        margin = base_margin
        bias = np.float32(0.0)
        row = contributions[i]
        for t in range(roots.shape[0]):
            node = roots[t]
            node_mean = mean[node]
            bias += node_mean
            k = 0
            while left[node] != -1:
                split = feature[node]
                x = X[i, split]
                if x != x:  # missing
                    node = left[node] if default_left[node] else right[node]
                elif x < threshold[node]:
                    node = left[node]
                else:
                    node = right[node]
                push = mean[node] - node_mean
                node_mean = mean[node]
                j = 0
                while j < k and path_feature[j] != split:
                    j += 1
                if j == k:
                    path_feature[k] = split
                    path_push[k] = push
                    k += 1
                else:
                    path_push[j] += push
            margin += threshold[node]
            for j in range(k):
                row[path_feature[j]] += path_push[j]
        row[n_features] = bias + base_margin
        # XGBoost's Sigmoid, whose exp's argument is capped (no overflow to inf).
        x = -margin
        if x > EXP_CAP:
            x = EXP_CAP
        scores[i] = np.float32(1.0) / (np.exp(x) + np.float32(1.0))
