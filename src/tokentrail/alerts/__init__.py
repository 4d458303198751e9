"""Alerting: rules over metrics of the stored calls, anomaly detection, state, notifications, backtests.

Modules, lowest first: `durations`, `metrics` (SQL per metric), `rules` (the rule file), `anomaly`
(baselines), `judge` (a condition's verdict), `state` (the state machine, kept in the store), `notifiers`,
`engine` (evaluate every rule at a time), `backtest` (replay over history).
"""
