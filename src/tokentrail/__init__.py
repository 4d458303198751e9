"""tokentrail: observability for LLM workloads.

The SDK's public face. Every function below is bound to one default instance (`Tokentrail`); build your own
instance for isolation (tests)::

    import tokentrail

    tokentrail.configure(service_name="support-bot")      # optional: env TOKENTRAIL_* and defaults otherwise
    tokentrail.instrument()                               # openai, anthropic, boto3 bedrock-runtime
    with tokentrail.labels(feature="triage", tenant="acme"), tokentrail.trace("support_agent"):
        client.chat.completions.create(...)

    guard = tokentrail.budget_guard(on_exceeded="degrade", degrade_to={"gpt-4o": "gpt-4o-mini"})
    with guard, tokentrail.labels(tenant="acme"):        # acme over budget: gpt-4o-mini is called instead
        client.chat.completions.create(model="gpt-4o", ...)

    triage = tokentrail.prompt("support-triage", stage="prod", fallback="Triage: {ticket}")
    with triage:                                          # calls carry prompt_name/_version/_content_id
        client.chat.completions.create(model=triage.model or "gpt-4o", messages=[
            {"role": "user", "content": triage.format(ticket=text)}])
"""

from tokentrail.sdk.budget import BudgetExceeded
from tokentrail.sdk.context import propagate
from tokentrail.sdk.instance import DEFAULT as _DEFAULT
from tokentrail.sdk.instance import Tokentrail

configure = _DEFAULT.configure
instrument = _DEFAULT.instrument
instrument_openai = _DEFAULT.instrument_openai
instrument_anthropic = _DEFAULT.instrument_anthropic
instrument_bedrock = _DEFAULT.instrument_bedrock
uninstrument = _DEFAULT.uninstrument
labels = _DEFAULT.labels
trace = _DEFAULT.trace
tool = _DEFAULT.tool
round = _DEFAULT.round
degraded = _DEFAULT.degraded
budget_guard = _DEFAULT.budget_guard
prompt = _DEFAULT.prompt
refresh_budgets = _DEFAULT.refresh_budgets
sdk_stats = _DEFAULT.sdk_stats
force_flush = _DEFAULT.force_flush
shutdown = _DEFAULT.shutdown

__all__ = [
    "BudgetExceeded",
    "Tokentrail",
    "budget_guard",
    "configure",
    "degraded",
    "force_flush",
    "instrument",
    "instrument_anthropic",
    "instrument_bedrock",
    "instrument_openai",
    "labels",
    "prompt",
    "propagate",
    "refresh_budgets",
    "round",
    "sdk_stats",
    "shutdown",
    "tool",
    "trace",
    "uninstrument",
]
