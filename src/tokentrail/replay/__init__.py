"""Bulk replay of archived samples against another model or provider, recorded as an experiment."""
