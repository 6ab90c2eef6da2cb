"""HTTP API and live dashboard."""

from fraudstream.api.app import create_app

__all__ = ["create_app"]
