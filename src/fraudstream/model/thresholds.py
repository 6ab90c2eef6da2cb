"""Decision thresholds chosen on validation data: review above one score, decline above another."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sklearn.metrics import precision_recall_curve

__all__ = ["ThresholdMethod", "Thresholds", "choose_thresholds"]

ThresholdMethod = Literal["fbeta", "cost"]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Thresholds:
    """score >= decline: decline; score >= review: review; else approve."""

    review: float
    decline: float
    method: str
    detail: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Thresholds:
        return cls(float(data["review"]), float(data["decline"]), str(data["method"]), dict(data.get("detail", {})))


def _best_fbeta(y: npt.NDArray[np.bool_], scores: FloatArray, beta: float) -> tuple[float, float]:
    precision, recall, thresholds = precision_recall_curve(y, scores)
    b2 = beta * beta
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (1 + b2) * precision * recall / (b2 * precision + recall)
    f = np.nan_to_num(f[:-1])  # the last point has no threshold
    best = int(np.argmax(f))
    return float(thresholds[best]), float(f[best])


def _cost_grid(
    y: npt.NDArray[np.bool_], scores: FloatArray, amounts: FloatArray, review_cost: float, decline_cost: float
) -> tuple[float, float, float]:
    """(review, decline, cost) minimising missed fraud amount + reviews + declined good customers.

    A reviewed fraud is caught (analysts are assumed right); a declined legitimate
    payment costs `decline_cost` x its amount (lost sale, annoyed customer).
    """
    candidates = np.unique(np.quantile(scores, np.linspace(0.5, 1.0, 201)))
    candidates = np.concatenate([candidates, [np.inf]])
    fraud_amount = np.where(y, amounts, 0.0)
    legit_amount = np.where(y, 0.0, amounts)
    order = np.argsort(scores)
    s, fa, la = scores[order], fraud_amount[order], legit_amount[order]
    cum_fraud = np.concatenate([[0.0], np.cumsum(fa)])
    cum_legit_from = np.concatenate([np.cumsum(la[::-1])[::-1], [0.0]])
    at = np.searchsorted(s, candidates, side="left")  # first index with score >= threshold
    missed = cum_fraud[at]  # fraud approved below the review threshold
    declined_legit = cum_legit_from[at] * decline_cost
    best = (np.inf, float(candidates[0]), float(candidates[-1]))
    for i, r in enumerate(at):
        # decline threshold d >= review threshold r: reviews are the rows in [r, d)
        reviews = (at[i:] - r) * review_cost
        cost = missed[i] + reviews + declined_legit[i:]
        j = int(np.argmin(cost))
        if cost[j] < best[0]:
            best = (float(cost[j]), float(candidates[i]), float(candidates[i + j]))
    return best[1], best[2], best[0]


def _separate(review: float, decline: float, scores: FloatArray) -> tuple[float, bool]:
    """A decline threshold strictly above `review`: `decline` if it is, else the fallback.

    The fallback declines the upper half of the validation alerts: the median of the
    scores above the review threshold (or, if none is, the next float above it).
    """
    if decline > review:
        return decline, False
    above = scores[scores > review]
    if len(above):
        return float(np.median(above)), True
    return float(np.nextafter(np.float32(review), np.float32(np.inf))), True


def choose_thresholds(
    y: npt.NDArray[np.bool_],
    scores: FloatArray,
    amounts: FloatArray,
    method: ThresholdMethod = "fbeta",
    beta: float = 2.0,
    review_cost: float = 5.0,
    decline_cost: float = 0.2,
) -> Thresholds:
    """Thresholds from validation scores.

    fbeta: review where F-beta (default beta = 2: recall weighs more) is best; decline
    where F-0.5 (precision weighs more) is best.
    cost: the pair with the lowest expected cost (see `_cost_grid`).

    Decline is always strictly above review: where the method puts them together, the
    decline threshold falls back to the median validation score above review (see
    `_separate`), and `detail["decline_fallback"]` says so.
    """
    y = np.asarray(y, dtype=bool)
    if y.sum() == 0 or y.all():
        raise ValueError("thresholds need validation data with both fraud and legitimate payments")
    if method == "fbeta":
        review, f_review = _best_fbeta(y, scores, beta)
        decline, f_decline = _best_fbeta(y, scores, 0.5)
        decline, fallback = _separate(review, decline, scores)
        detail = {"beta": beta, "f_beta_review": f_review, "f_0.5_decline": f_decline}
    else:
        review, decline, cost = _cost_grid(y, scores, amounts, review_cost, decline_cost)
        decline, fallback = _separate(review, decline, scores)
        detail = {"review_cost": review_cost, "decline_cost": decline_cost, "expected_cost": cost}
    if fallback:
        detail["decline_fallback"] = 1.0
    return Thresholds(review, decline, method, detail)
