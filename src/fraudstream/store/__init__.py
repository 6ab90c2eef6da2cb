"""Persistence: SQLAlchemy models, Alembic migrations and the repository."""

from fraudstream.store.repository import Review, Store, StoredTransaction, UnknownTransactionsError

__all__ = ["Review", "Store", "StoredTransaction", "UnknownTransactionsError"]
