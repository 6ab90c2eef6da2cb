"""Feature state in Redis, shared by every worker (see `state.py`)."""

from fraudstream.features.state.redis.channel import CALM_MERGES
from fraudstream.features.state.redis.state import RedisState

__all__ = ["CALM_MERGES", "RedisState"]
