"""The tree of tokentrail's own exceptions, under one root.

Every error tokentrail raises on purpose derives from `TokentrailError`, so a caller can catch them all
at once, and the server (`server/errors.py`) and the CLI (`cli/errors.py`) each turn them into an HTTP
status or an exit code with one table. This module imports nothing, so every layer (the SDK too) can use it.

The category classes live here; each concrete class lives beside the code that raises it (the module
named in brackets), so callers keep importing it from there::

    TokentrailError                 the root: anything tokentrail raises on purpose
    ├── InputError (ValueError)     input that cannot be used: a request, a file, a setting, an argument
    │   ├── BadRequest              an API request or command names an unknown field, dimension or parameter,
    │   │                           or carries a malformed value or body [here]
    │   ├── SettingsError           a TOKENTRAIL_* environment variable of the wrong type [settings]
    │   ├── QueryError              a query that cannot be parsed or compiled [query.errors]
    │   ├── DurationError           a duration or a time that cannot be read [times]
    │   ├── RuleError               an alert rule or notifier definition [alerts.rules]
    │   ├── BudgetError             a budget definition [budgets]
    │   ├── KeyError_               a bad key name, scope or tenant, or a name taken [keys]
    │   ├── PricingConfigError      a price overrides file [pricing_overrides]
    │   ├── RetentionError          a retention setting [retention.policy]
    │   ├── PolicyError             a sampling policy file or body [samples.policy]
    │   ├── ContentError            prompt content that is not a template or messages [prompts.content]
    │   ├── BadPayload              an OTLP body that cannot be decoded [ingest.otlp]
    │   ├── PayloadTooLarge         an OTLP body over the size limit after decompression [ingest.otlp]
    │   └── UnsupportedMediaType    an OTLP body neither protobuf nor JSON [ingest.otlp]
    ├── NotFoundError (LookupError) the thing named does not exist
    │   ├── NotFound                no calls carry the experiment's label [experiments.data]
    │   └── UnknownRule             no alert rule of that name [alerts.backtest]
    ├── PromptError                 the prompt registry refuses an action [prompts.registry]
    │   ├── PromptInvalid           a bad name, stage or content
    │   ├── PromptNotFound          no such prompt or version
    │   ├── PromptForbidden         the actor may not do this (approving their own version)
    │   └── PromptConflict          the prompt's state forbids it (e.g. promoting an unapproved version)
    ├── Denied                      a request without the right credentials [server.auth]
    │   ├── Unauthenticated         no key, or a wrong or revoked one
    │   └── Forbidden               a key (or session) without the scope the route needs
    ├── StoreError                  the store failed [store.base]
    │   ├── StoreBusy               the writer's queue is full; retry shortly
    │   ├── QueryTimeout            a read ran over its time limit
    │   └── QueryFailed             the store refused a read (e.g. a type error in a filter)
    ├── Unavailable                 tokentrail cannot do the work right now; retry shortly
    │   ├── PoolFull                every user-query slot is busy [server.querypool]
    │   └── WorkersUnavailable      the decoding workers died and are being replaced [ingest.workers]
    ├── ExternalError               a system outside tokentrail failed or could not be reached
    │   ├── ArchiveError            an archive location or its contents [archive.target]
    │   ├── CollectorError          the collector cannot be reached or refuses [replay.collector]
    │   ├── DeliveryError           one attempt to deliver an alert notification failed [alerts.notifiers]
    │   └── BindFailed              the gRPC port could not be bound [server.otlp_grpc]
    ├── Rejected                    an OTLP request refused, with its status and headers [server.otlp]
    ├── DemoError                   the demo cannot run as asked [demo.options]
    ├── PromptMismatch              a sample does not hold the prompt version it is labelled with
    │                               (the sample is skipped) [replay.prompts]
    ├── BudgetExceeded              the SDK refused a guarded call: its scope is over budget [sdk.budget]
    └── PromptUnavailable           the SDK could get no prompt: no answer, no disk copy, no fallback
                                    [sdk.prompts]

The provider simulator (`tokentrail.simulator`) keeps its errors (`InvalidRequest`, `DirectiveError`,
`ProfileError`) out of the tree: it stands in for OpenAI, Anthropic and Bedrock, answers in their error
shapes, and depends on nothing else in tokentrail.
"""

from __future__ import annotations


class TokentrailError(Exception):
    """The root of every exception tokentrail raises on purpose."""


class InputError(TokentrailError, ValueError):
    """Input that cannot be used; the message says which part and why."""


class BadRequest(InputError):
    """A request or command names an unknown field, dimension or parameter, or carries a malformed value."""


class NotFoundError(TokentrailError, LookupError):
    """The thing named does not exist; the message says what there is."""


class Unavailable(TokentrailError):
    """The work cannot be done right now; the same request may succeed shortly."""


class ExternalError(TokentrailError):
    """A system outside tokentrail (a collector, a webhook, a bucket, a port) failed or refused."""
