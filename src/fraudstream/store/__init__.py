"""Persistence: SQLAlchemy models, Alembic migrations and the repository."""

from fraudstream.store.repository import (
    LabelsBeforePaymentError,
    Review,
    Store,
    StoredTransaction,
    UnknownTransactionsError,
    refused_for_data,
)

__all__ = [
    "LabelsBeforePaymentError",
    "Review",
    "Store",
    "StoredTransaction",
    "UnknownTransactionsError",
    "refused_for_data",
]
