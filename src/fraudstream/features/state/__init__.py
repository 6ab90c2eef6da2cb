"""Feature state backends behind one protocol (memory now; Redis for shared state)."""

from fraudstream.features.state.base import FeatureState, Workspace
from fraudstream.features.state.memory import MemoryState

__all__ = ["FeatureState", "MemoryState", "Workspace"]
