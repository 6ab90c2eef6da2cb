"""Prometheus metrics and the live statistics the dashboard shows."""

from fraudstream.monitoring.live import LiveFeed, LiveStats, decision_event, decision_feed
from fraudstream.monitoring.metrics import Metrics

__all__ = ["LiveFeed", "LiveStats", "Metrics", "decision_event", "decision_feed"]
