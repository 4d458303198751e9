"""Ingest: decode OTLP, normalise every convention into Call records, import existing logs."""
