"""A backtest as one offline HTML page: tables and inline SVG charts, nothing fetched."""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["backtest_html"]

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1d2330;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{padding:.3rem .5rem;border-bottom:1px solid #e3e6ec}
th{text-align:left;background:#f4f6f9;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#667085}.warn{background:#fff4e5;border-left:4px solid #f5a524;padding:.4rem .7rem}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem;vertical-align:-1px}
"""
_GOOD, _BAD = "#2e7d32", "#c62828"


def _money(value: float) -> str:
    return f"{value:,.0f}"


def _num(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _when(text: str | None) -> str:
    return "–" if text is None else text[:16].replace("T", " ") + " UTC"


def _bars(policies: list[dict[str, Any]]) -> str:
    """Fraud money stopped (green) and good money declined or reviewed (red), per policy."""
    top = max([1.0] + [max(p["fraud_stopped_amount"], p["false_positive_amount"]) for p in policies])
    width, row = 600, 46
    parts = [f'<svg role="img" width="{width + 280}" height="{row * len(policies) + 10}" aria-label="policies">']
    for i, p in enumerate(policies):
        y = i * row + 4
        stopped = p["fraud_stopped_amount"] / top * width
        wasted = p["false_positive_amount"] / top * width
        parts += [
            f'<text x="0" y="{y + 16}" font-size="13">{escape(p["name"])}</text>',
            f'<rect x="180" y="{y}" width="{stopped:.1f}" height="16" fill="{_GOOD}"/>',
            f'<text x="{186 + stopped:.1f}" y="{y + 13}" font-size="11">{_money(p["fraud_stopped_amount"])}</text>',
            f'<rect x="180" y="{y + 19}" width="{wasted:.1f}" height="16" fill="{_BAD}"/>',
            f'<text x="{186 + wasted:.1f}" y="{y + 32}" font-size="11">{_money(p["false_positive_amount"])}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)


def _spark(by_day: dict[str, int], days: list[str]) -> str:
    """Hits per day across the window, as a small bar strip."""
    if not days:
        return ""
    top = max([1, *by_day.values()])
    w = max(2.0, 220 / len(days))
    bars = "".join(
        f'<rect x="{i * w:.1f}" y="{20 - 20 * by_day.get(d, 0) / top:.1f}" width="{max(w - 1, 1):.1f}" '
        f'height="{20 * by_day.get(d, 0) / top:.1f}" fill="#3b5bdb"><title>{d}: {by_day.get(d, 0)}</title></rect>'
        for i, d in enumerate(days)
    )
    return f'<svg width="{w * len(days):.0f}" height="20">{bars}</svg>'


def backtest_html(result: dict[str, Any], title: str) -> str:
    policies = result["policies"]
    days = sorted({d for r in result["rules"] for d in r["by_day"]})
    policy_rows = "".join(
        "<tr>"
        f"<td>{escape(p['name'])}</td>"
        f"<td class=n>{_num(p['outcomes']['decline'])}</td><td class=n>{_num(p['outcomes']['review'])}</td>"
        f"<td class=n>{_num(p['reviews_per_day'])}</td>"
        f"<td class=n>{_num(p['fraud_stopped'])}</td><td class=n>{_money(p['fraud_stopped_amount'])}</td>"
        f"<td class=n>{_num(p['fraud_missed'])}</td><td class=n>{_money(p['fraud_missed_amount'])}</td>"
        f"<td class=n>{_num(p['false_positives'])}</td><td class=n>{_money(p['false_positive_amount'])}</td>"
        f"<td class=n>{_money(p['net_benefit'])}</td>"
        "</tr>"
        for p in policies
    )
    rule_rows = "".join(
        "<tr>"
        f"<td>{escape(r['id'])}</td><td>{escape(r['action'])}</td><td>{escape(r['mode'])}</td>"
        f"<td class=n>{_num(r['hits'])}</td><td class=n>{_num(r['hits_per_day'])}</td>"
        f"<td class=n>{_share(r['precision'])}</td><td class=n>{_share(r['recall'])}</td>"
        f"<td class=n>{_money(r['fraud_amount'])}</td><td class=n>{_money(r['good_amount'])}</td>"
        f"<td class=n>{_num(r['beyond_model'])}</td><td class=n>{_num(r['fraud_beyond_model'])}</td>"
        f"<td>{_spark(r['by_day'], days)}</td>"
        "</tr>"
        for r in result["rules"]
    )
    window = result["window"]
    costs = result["costs"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{escape(title)}</h1>
<p class="muted">Model {escape(result["model_version"])} ·
{escape(_when(window["first"]))} to {escape(_when(window["last"]))}
({window["days"]} days) · {result["transactions"]:,} transactions · {result["labelled_fraud"]:,} labelled fraud
({_money(result["labelled_fraud_amount"])}) · review cost {costs["review_cost"]:g}, lost customer value
{costs["lost_customer_value"]:g}</p>
{"".join(f'<p class="warn">⚠ {escape(w)}</p>' for w in result.get("warnings", []))}
<h2>Policies</h2>
<p class="legend"><span style="background:{_GOOD}"></span>fraud money stopped (declined or reviewed)
<span style="background:{_BAD}"></span>good money declined or sent to review</p>
{_bars(policies)}
<table><tr><th>Policy</th><th>Declined</th><th>Reviewed</th><th>Reviews/day</th><th>Fraud stopped</th>
<th>Money</th><th>Fraud missed</th><th>Money</th><th>False positives</th><th>Money</th><th>Net benefit</th></tr>
{policy_rows}</table>
<p class="muted">Net benefit = fraud money stopped − review cost × reviews − lost customer value × good payments
declined.</p>
<h2>Rules of the tested policy</h2>
<table><tr><th>Rule</th><th>Action</th><th>Mode</th><th>Hits</th><th>Per day</th><th>Precision</th><th>Recall</th>
<th>Fraud money</th><th>Good money</th><th>Beyond model</th><th>Fraud beyond model</th><th>Hits per day</th></tr>
{rule_rows}</table>
<p class="muted">Beyond model: hits the model's thresholds alone would have approved (what the rule adds).</p>
</body></html>
"""
