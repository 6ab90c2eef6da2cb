"""Streaming: Source/Sink protocols, the in-process transport and the worker loop."""

from fraudstream.stream.base import LABELS, TRANSACTIONS, DeadLetter, DeadLetterSink, DecisionSink, Message, Source
from fraudstream.stream.checkpoint import Backoff
from fraudstream.stream.memory import MemoryDeadLetters, MemorySink, MemorySource
from fraudstream.stream.worker import StreamWorker

__all__ = [
    "LABELS",
    "TRANSACTIONS",
    "Backoff",
    "DeadLetter",
    "DeadLetterSink",
    "DecisionSink",
    "MemoryDeadLetters",
    "MemorySink",
    "MemorySource",
    "Message",
    "Source",
    "StreamWorker",
]
