"""A history shaped like the simulated data of the Fraud Detection Handbook, and its
textbook baseline: an independent check that fraudstream finds general signal.

The handbook (Le Borgne et al., "Reproducible Machine Learning for Credit Card Fraud
Detection - Practical Handbook") simulates customers paying at terminals near them,
with three kinds of fraud: any amount over 220; terminals compromised for 28 days (all
their payments fraudulent); customers compromised for 14 days (a third of their
payments five times larger). Labels are known 7 days late. Written here from that
description, not from its code.

Its baseline is a logistic regression on 15 features: the amount, weekend and night
flags, the customer's payment count and mean amount over 1, 7 and 30 days, and the
terminal's payment count and fraud rate over 1, 7 and 30 days ending 7 days before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

DAY_S = 86_400
DELAY_DAYS = 7
COLUMNS = {
    "transaction_id": "TRANSACTION_ID",
    "timestamp": "TX_DATETIME",
    "customer_id": "CUSTOMER_ID",
    "terminal_id": "TERMINAL_ID",
    "amount": "TX_AMOUNT",
    "is_fraud": "TX_FRAUD",
    "scenario": "TX_FRAUD_SCENARIO",
}


def handbook_like(
    customers: int = 5_000, terminals: int = 10_000, days: int = 100, seed: int = 0, radius: float = 5.0
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    home = rng.uniform(0, 100, (customers, 2))
    mean_amount = rng.uniform(5, 100, customers)
    per_day = rng.uniform(0, 4, customers)
    spots = rng.uniform(0, 100, (terminals, 2))
    near = [np.flatnonzero(((spots - h) ** 2).sum(axis=1) < radius**2) for h in home]
    parts = []
    for day in range(days):
        n = rng.poisson(per_day)
        who = np.repeat(np.arange(customers), n)
        seconds = rng.normal(DAY_S / 2, 20_000, len(who))
        amount = rng.normal(mean_amount[who], mean_amount[who] / 2)
        amount = np.where(amount < 0, rng.uniform(0, 2 * mean_amount[who]), amount)
        pick = rng.random(len(who))
        terminal = np.array(
            [near[c][int(p * len(near[c]))] if len(near[c]) else -1 for c, p in zip(who, pick, strict=True)]
        )
        keep = (seconds > 0) & (seconds < DAY_S) & (terminal >= 0)
        parts.append(
            pd.DataFrame(
                {
                    "seconds": (day * DAY_S + seconds[keep]).astype(np.int64),
                    "customer": who[keep],
                    "terminal": terminal[keep],
                    "amount": np.round(amount[keep], 2),
                }
            )
        )
    tx = pd.concat(parts).sort_values("seconds", kind="stable").reset_index(drop=True)
    tx_day = tx["seconds"].to_numpy() // DAY_S
    scenario = np.where(tx["amount"].to_numpy() > 220, 1, 0)
    for day in range(days):
        hit = rng.choice(terminals, 2, replace=False)
        window = (tx_day >= day) & (tx_day < day + 28) & np.isin(tx["terminal"].to_numpy(), hit)
        scenario = np.where(window & (scenario == 0), 2, scenario)
        victims = rng.choice(customers, 3, replace=False)
        window = (tx_day >= day) & (tx_day < day + 14) & np.isin(tx["customer"].to_numpy(), victims)
        chosen = np.flatnonzero(window & (scenario == 0))
        chosen = chosen[rng.random(len(chosen)) < 1 / 3]
        tx.loc[chosen, "amount"] = (tx.loc[chosen, "amount"] * 5).round(2)
        scenario[chosen] = 3
    start = pd.Timestamp("2018-04-01", tz="UTC")
    return pd.DataFrame(
        {
            "TRANSACTION_ID": np.arange(len(tx)),
            "TX_DATETIME": (start + pd.to_timedelta(tx["seconds"], unit="s")).dt.strftime("%Y-%m-%d %H:%M:%S"),
            "CUSTOMER_ID": tx["customer"],
            "TERMINAL_ID": tx["terminal"],
            "TX_AMOUNT": tx["amount"],
            "TX_FRAUD": (scenario > 0).astype(int),
            "TX_FRAUD_SCENARIO": scenario,
        }
    )


def write(path: Path, **kwargs: int) -> list[str]:
    """Write a handbook-shaped CSV; returns the `--map` options that read it."""
    handbook_like(**kwargs).to_csv(path, index=False)
    return [f"{ours}={theirs}" for ours, theirs in COLUMNS.items()]


def _rolling(frame: pd.DataFrame, key: str, value: str, days: int, how: str) -> np.ndarray:
    """Per row: `how` of `value` over the key's rows in the `days` days up to and including it."""
    out = np.empty(len(frame))
    for _, group in frame.groupby(key, sort=False):
        series = group.set_index("when")[value]
        rolled = series.rolling(f"{days}D").agg(how)
        out[group.index.to_numpy()] = rolled.to_numpy()
    return out


def textbook_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The handbook's 15 features (its definitions: windows include the payment itself)."""
    data = pd.DataFrame(
        {
            "when": pd.to_datetime(frame["TX_DATETIME"], utc=True),
            "customer": frame["CUSTOMER_ID"],
            "terminal": frame["TERMINAL_ID"],
            "amount": frame["TX_AMOUNT"].astype(float),
            "fraud": frame["TX_FRAUD"].astype(float),
            "one": 1.0,
        }
    )
    out = pd.DataFrame(
        {
            "amount": data["amount"],
            "weekend": (data["when"].dt.weekday >= 5).astype(float),
            "night": (data["when"].dt.hour <= 6).astype(float),
        }
    )
    for days in (1, 7, 30):
        count = _rolling(data, "customer", "one", days, "sum")
        out[f"customer_nb_tx_{days}"] = count
        out[f"customer_avg_amount_{days}"] = _rolling(data, "customer", "amount", days, "sum") / count
    for days in (1, 7, 30):
        # Window [t - delay - days, t - delay): counts and frauds up to t - delay, minus those up to t - delay - days.
        upto_delay = _rolling(data, "terminal", "one", DELAY_DAYS, "sum")
        frauds_delay = _rolling(data, "terminal", "fraud", DELAY_DAYS, "sum")
        upto_all = _rolling(data, "terminal", "one", DELAY_DAYS + days, "sum")
        frauds_all = _rolling(data, "terminal", "fraud", DELAY_DAYS + days, "sum")
        count = upto_all - upto_delay
        out[f"terminal_nb_tx_{days}"] = count
        out[f"terminal_risk_{days}"] = np.where(count > 0, (frauds_all - frauds_delay) / np.maximum(count, 1), 0.0)
    return out


def textbook_baseline(frame: pd.DataFrame, train_end: str, test_start: str, test_end: str) -> dict[str, float]:
    """ROC AUC and AP of the handbook's logistic regression on its 15 features, on the same split."""
    features = textbook_features(frame)
    when = pd.to_datetime(frame["TX_DATETIME"], utc=True)
    train = (when < pd.Timestamp(train_end)).to_numpy()
    test = ((when >= pd.Timestamp(test_start)) & (when <= pd.Timestamp(test_end))).to_numpy()
    y = frame["TX_FRAUD"].to_numpy().astype(bool)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1_000))
    model.fit(features[train], y[train])
    scores = model.predict_proba(features[test])[:, 1]
    return {
        "roc_auc": float(roc_auc_score(y[test], scores)),
        "average_precision": float(average_precision_score(y[test], scores)),
    }
