"""Synthetic payment world with labelled fraud scenarios, deterministic by seed."""

from fraudstream.simulate.columns import SCENARIOS
from fraudstream.simulate.stream import iter_events
from fraudstream.simulate.world import World, WorldConfig

__all__ = ["SCENARIOS", "World", "WorldConfig", "iter_events"]
