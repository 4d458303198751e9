"""`tokentrail demo`: a week of realistic LLM traffic in about a minute, and the answer to "which feature
spent the most yesterday, and why?".

It starts the collector and the provider simulator as subprocesses, drives the official openai, anthropic
and boto3 clients (instrumented by tokentrail) through the scenarios in `tokentrail.demo.scenarios` on a
thread pool, moves each session's spans into the past (`tokentrail.demo.timeshift`), keeps a ledger of
what was sent (`tokentrail.demo.ledger`), then reads the report and the answer back from the collector's
JSON API (`tokentrail.demo.answer`).
"""

from tokentrail.demo.main import Outcome, run_demo
from tokentrail.demo.options import DemoError, DemoOptions

__all__ = ["DemoError", "DemoOptions", "Outcome", "run_demo"]
