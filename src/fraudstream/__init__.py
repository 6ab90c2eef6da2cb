"""fraudstream: real-time fraud detection for payment transactions."""

__version__ = "0.1.0"

__all__ = ["__version__"]
