"""The collector and API server."""
