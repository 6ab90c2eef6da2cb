"""An evaluation report folder: curves, confusion matrix, feature importance, report.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from fraudstream.model.evaluate import Evaluation

__all__ = ["write_report"]


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _pr_curve(ev: Evaluation, path: Path) -> str:
    precision, recall, _ = precision_recall_curve(ev.y_test, ev.scores)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.plot(recall, precision, color="#c0392b")
    m = ev.metrics
    ax.scatter([m["recall"]], [m["precision"]], color="black", zorder=3, label=f"review ≥ {m['threshold']:.3f}")
    ax.set(xlabel="recall", ylabel="precision", title=f"Precision-recall (AP {m['average_precision']:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    return _save(fig, path)


def _roc_curve(ev: Evaluation, path: Path) -> str:
    fpr, tpr, _ = roc_curve(ev.y_test, ev.scores)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.plot(fpr, tpr, color="#2c3e50")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        title=f"ROC (AUC {ev.metrics['roc_auc']:.3f})",
    )
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _confusion(ev: Evaluation, path: Path) -> str:
    m = ev.metrics
    tn = m["n_test"] - m["true_positives"] - m["false_positives"] - m["false_negatives"]
    cells = np.array([[tn, m["false_positives"]], [m["false_negatives"], m["true_positives"]]])
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(np.log1p(cells), cmap="Blues")
    for (i, j), v in np.ndenumerate(cells):
        ax.text(j, i, f"{v:,}", ha="center", va="center", fontsize=12)
    ax.set_xticks([0, 1], ["approved", "flagged"])
    ax.set_yticks([0, 1], ["legitimate", "fraud"])
    ax.set_title(f"At review threshold {m['threshold']:.3f}")
    return _save(fig, path)


def _importance(ev: Evaluation, path: Path, top: int = 20) -> str:
    gain = ev.model.booster.get_score(importance_type="total_gain")
    items = sorted(gain.items(), key=lambda kv: kv[1])[-top:]
    fig, ax = plt.subplots(figsize=(6.5, 0.3 * len(items) + 1.2))
    ax.barh([k for k, _ in items], [v for _, v in items], color="#16a085")
    ax.set(xlabel="total gain", title="Feature importance")
    ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    return _save(fig, path)


def write_report(ev: Evaluation, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    images = {
        "Precision-recall curve": _pr_curve(ev, directory / "pr_curve.png"),
        "ROC curve": _roc_curve(ev, directory / "roc_curve.png"),
        "Confusion matrix": _confusion(ev, directory / "confusion_matrix.png"),
        "Feature importance": _importance(ev, directory / "feature_importance.png"),
    }
    (directory / "metrics.json").write_text(json.dumps(ev.metrics, indent=2, default=str) + "\n")
    m = ev.metrics
    split = m["split"]
    lines = [
        "# Evaluation report",
        "",
        f"Model trained on {m['n_train']:,} transactions, tested on the {m['n_test']:,} that follow"
        + (f" after a {split['gap_days']:g}-day gap" if split.get("method") == "time" else " (random split)")
        + ".",
        "",
        "| metric | value |",
        "|---|---|",
        f"| ROC AUC | {m['roc_auc']:.4f} |",
        f"| average precision (PR AUC) | {m['average_precision']:.4f} |",
        f"| review threshold ({m['threshold_method']}) | {m['threshold']:.4f} |",
        f"| precision / recall / F1 at review | {m['precision']:.3f} / {m['recall']:.3f} / {m['f1']:.3f} |",
        f"| decline threshold | {m['decline_threshold']:.4f} |",
        f"| precision / recall at decline | {m['decline_precision']:.3f} / {m['decline_recall']:.3f} |",
        f"| precision of the top {m['k']} {m['ranked_by']}s per day | {m['precision_at_k_per_day']:.3f} |",
        *(
            [f"| precision of the top {m['k']} transactions per day | {m['precision_at_k_transactions_per_day']:.3f} |"]
            if m["ranked_by"] != "transaction"
            else []
        ),
        f"| frauds in test | {m['n_frauds_test']:,} |",
        f"| fraud rate train / test | {m['fraud_rate_train']:.3%} / {m['fraud_rate_test']:.3%} |",
        f"| trees (best validation AP) / label delay | {m['trees']:,} / {m['label_delay_days']:.2f} days |",
        "",
        *[line for w in m["warnings"] for line in (f"**Warning:** {w}", "")],
        "Windows: " + ", ".join(f"{k} {v}" for k, v in split.items() if k != "method"),
        "",
    ]
    if "recall_by_scenario" in m:
        lines += [
            "## Recall by fraud scenario",
            "",
            "| scenario | frauds | recall (review) | recall (decline) | after one was reported at the terminal |",
            "|---|---|---|---|---|",
        ]
        for name, row in m["recall_by_scenario"].items():
            after = row.get("after_terminal_report")
            later = "-" if not after else f"{after['frauds']:,} ({after['share']:.0%})"
            if after and after["frauds"]:
                later += f", recall {after['recall']:.3f}"
            lines.append(
                f"| {name} | {row['frauds']:,} | {row['recall']:.3f} | {row['decline_recall']:.3f} | {later} |"
            )
        lines.append("")
    for title, image in images.items():
        lines += [f"## {title}", "", f"![{title}]({image})", ""]
    (directory / "report.md").write_text("\n".join(lines))
    return directory / "report.md"
