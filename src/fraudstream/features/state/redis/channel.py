"""The merge channel: one connection of its own, a merge in flight behind the next reads."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis

from fraudstream.features.state.redis.resp import encode
from fraudstream.pending import InFlight, Pending

__all__ = ["CALM_MERGES", "MergeChannel"]

log = logging.getLogger(__name__)

CALM_MERGES = 8


class MergeChannel:
    """A connection on which a merge is sent without waiting, and reads queue behind it.

    Redis runs a connection's commands in order, so reads sent after a merge see it.
    A merge stays pending until its reply is read; one whose reply was lost (the
    connection broke) is sent again ahead of the next reads. The connection is the
    channel's own, made as the client's pool makes its connections: taking one from the
    pool and giving it back, with the pool's check for unread data, cost every round
    trip a syscall.
    """

    def __init__(self, client: redis.Redis, load_script: Callable[[], Any]) -> None:
        self.load_script = load_script
        pool = client.connection_pool
        # redis-py's Connection, whose methods are untyped; it connects again when used after a drop
        self._connection: Any = pool.connection_class(**pool.connection_kwargs)
        self._pending: tuple[Any, ...] | None = None  # the merge not acknowledged yet
        self._on_conflict: Callable[[], tuple[Any, ...]] | None = None
        self._in_flight = False  # its reply is due on the connection
        self._sent = self._acknowledged = 0
        self._calm = CALM_MERGES  # merges in a row that found no other writer's rows

    @property
    def contended(self) -> bool:
        """A recent merge found rows that somebody else had written since they were read."""
        return self._calm < CALM_MERGES

    def send_merge(self, command: tuple[Any, ...], on_conflict: Callable[[], tuple[Any, ...]]) -> Pending[None]:
        """Send `command`; if the script reports conflicts, `on_conflict()` is sent instead."""
        if self._pending is not None:
            self.round_trip([])  # one merge in flight at a time
        self._pending, self._on_conflict = command, on_conflict
        self._sent += 1
        number = self._sent
        self._send([])
        return InFlight(lambda: self._settle(number))

    def _settle(self, number: int) -> None:
        if self._acknowledged < number:
            self.round_trip([])

    def round_trip(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """The replies to `commands`, sent after the pending merge, whose reply is read first."""
        try:
            return self._round_trip(commands)
        except (redis.ConnectionError, redis.TimeoutError):
            # Once more, on a new connection: the server may have closed an idle one, and
            # all that goes again is idempotent (reads; a merge, by its marker key).
            return self._round_trip(commands)

    def _round_trip(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        connection = self._send(commands)
        failure: redis.ResponseError | None = None
        try:
            if self._in_flight:
                self._in_flight = False
                try:
                    reply = connection.read_response()
                    self._calm = 0 if isinstance(reply, list) or reply > 0 else min(self._calm + 1, CALM_MERGES)
                    if isinstance(reply, list) and self._on_conflict is not None:
                        # Nothing was applied: send it again, with operations for every row.
                        log.debug("feature-state merge conflicted on %d rows", len(reply))
                        self._pending, self._on_conflict = self._on_conflict(), None
                    else:
                        self._pending, self._acknowledged = None, self._sent
                except redis.ResponseError as exc:
                    failure = exc
            replies = [connection.read_response() for _ in commands]
        except (redis.ConnectionError, redis.TimeoutError):
            self._drop()
            raise
        if self._pending is not None and not self._in_flight and failure is None:
            return self._round_trip(commands)  # the conflicted merge, then the reads again
        if failure is not None:
            if not isinstance(failure, redis.exceptions.NoScriptError):
                raise failure  # stays pending: sent again by the next round trip
            self.load_script()  # Redis restarted without its scripts
            return self._round_trip(commands)
        return replies

    def _send(self, commands: list[tuple[Any, ...]]) -> Any:
        connection = self._connection
        resend = self._pending is not None and not self._in_flight
        batch = [self._pending, *commands] if self._pending is not None and resend else commands
        if batch:
            try:
                connection.send_packed_command([encode(batch)])
            except (redis.ConnectionError, redis.TimeoutError):
                self._drop()
                raise
        self._in_flight = self._in_flight or resend
        return connection

    def _drop(self) -> None:
        """The connection broke: a reply due on it never comes (the merge stays pending)."""
        self._in_flight = False
        self._connection.disconnect()
