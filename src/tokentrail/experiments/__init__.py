"""A/B experiments: the calls that carry `experiment` and `variant` labels, compared with intervals.

`stats` holds the statistics on numpy arrays, `data` reads an experiment's calls from the store, `analysis`
turns a request (metric, statistic, unit, mode, control) into the answer the API, CLI and dashboard show.
"""
