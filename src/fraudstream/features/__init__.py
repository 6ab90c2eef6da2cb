"""Point-in-time features: definitions, the engine and its state backends."""

from fraudstream.features.definitions import FEATURES, Feature, FeatureSet, FeatureSetMismatchError
from fraudstream.features.engine import FeatureEngine
from fraudstream.features.events import Events
from fraudstream.features.state.memory import MemoryState

__all__ = [
    "FEATURES",
    "Events",
    "Feature",
    "FeatureEngine",
    "FeatureSet",
    "FeatureSetMismatchError",
    "MemoryState",
]
