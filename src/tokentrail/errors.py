"""The error taxonomy every way a call arrives shares: the SDK, the OTLP normaliser, the file importers and
the demo's ledger all sort a failure into `tokentrail.model.ErrorClass` here, so the same error gets the
same class however it reached tokentrail.

`classify_error` reads, in order:

1. an error class spelled out (``throttled``, ``server_error``, ...);
2. a number, taken as an HTTP status (OTel's ``error.type`` is the status code for HTTP errors);
3. a provider error code, exactly as the provider spells it (OpenAI's ``insufficient_quota``, Anthropic's
   ``api_error``): `ERROR_CODES`;
4. an exception class name or code by its words: the last dotted part, lower-cased, without ``_``/``-``
   and without an ``Error``/``Exception`` suffix (``openai.RateLimitError``, ``ThrottlingException``,
   ``rate_limit_error`` and ``RateLimit`` are one key): `ERROR_NAMES`;
5. the HTTP status (`tokentrail.model.error_class_for_status`), where a provider documents a status of its
   own (Bedrock's 424: the model failed) that meaning first;
6. else ``other``.

Message text is never read: a sentence is no class name and gives ``other``. Names come before the status
because they are more specific: Bedrock answers a quota error (``ServiceQuotaExceededException``) with 400
and a model failure (``ModelErrorException``) with 424.

A call whose answer was withheld by a content filter ends with one of `FILTERED_STOP_REASONS`.
"""

from __future__ import annotations

import re
from typing import Final

from tokentrail.model import ErrorClass, error_class_for_status

FILTERED_STOP_REASONS: Final = frozenset(
    {"content_filter", "content_filtered", "guardrail_intervened", "refusal"}
)
"""Stop reasons that mean a content filter withheld the answer (OpenAI ``content_filter``, Anthropic
``refusal``, Bedrock ``content_filtered`` and ``guardrail_intervened``)."""

ERROR_CODES: Final[dict[str, ErrorClass]] = {
    # codes whose words mean something else as a class name (Anthropic's api_error is a 500; openai.APIError
    # is the base class of every error; Python's PermissionError is about files)
    "api_error": ErrorClass.SERVER_ERROR,
    "server_error": ErrorClass.SERVER_ERROR,
    "permission_error": ErrorClass.AUTH,
    "invalid_api_key": ErrorClass.AUTH,
    "billing_error": ErrorClass.INVALID_REQUEST,
    "insufficient_quota": ErrorClass.THROTTLED,
}

_NAMES: Final[dict[ErrorClass, tuple[str, ...]]] = {
    ErrorClass.THROTTLED: (
        "ratelimit",
        "ratelimitexceeded",
        "throttling",
        "throttled",
        "toomanyrequests",
        "servicequotaexceeded",
        "modelnotready",
        "resourceexhausted",
        "quotaexceeded",
    ),
    ErrorClass.SERVER_ERROR: (
        "internalserver",
        "internal",
        "serviceunavailable",
        "modelerror",
        "modelstreamerror",
        "overloaded",
        "badgateway",
        "httpnotimplemented",
    ),
    ErrorClass.TIMEOUT: (
        "timeout",
        "apitimeout",
        "modeltimeout",
        "readtimeout",
        "connecttimeout",
        "writetimeout",
        "pooltimeout",
        "gatewaytimeout",
        "requesttimeout",
        "deadlineexceeded",
    ),
    ErrorClass.CONNECTION: ("apiconnection", "connection", "connect", "network", "remoteprotocol"),
    ErrorClass.AUTH: (
        "authentication",
        "permissiondenied",
        "accessdenied",
        "unauthorized",
        "forbidden",
        "unrecognizedclient",
        "expiredtoken",
        "oauth",
    ),
    ErrorClass.INVALID_REQUEST: (
        "badrequest",
        "notfound",
        "resourcenotfound",
        "unprocessableentity",
        "validation",
        "conflict",
        "invalidrequest",
        "requesttoolarge",
        "contenttoolarge",
        "requestheaderfieldstoolarge",
        "paymentrequired",
        "preconditionfailed",
        "contextwindowexceeded",
        "contextlengthexceeded",
    ),
    ErrorClass.CONTENT_FILTERED: ("contentfilter", "contentfiltered", "contentpolicyviolation"),
    ErrorClass.CANCELLED: ("cancelled", "canceled", "apiuserabort", "clientclosedrequest"),
}
ERROR_NAMES: Final[dict[str, ErrorClass]] = {
    name: error_class for error_class, names in _NAMES.items() for name in names
}
"""Exception class names and codes by their words (see `name_key`)."""

PROVIDER_STATUS: Final[dict[str, dict[int, ErrorClass]]] = {
    "aws.bedrock": {424: ErrorClass.SERVER_ERROR},  # ModelErrorException, ModelStreamErrorException
}
"""HTTP statuses a provider gives a meaning of its own."""

_CLASS_VALUES: Final = frozenset(item.value for item in ErrorClass)
_WORDS: Final = re.compile(r"[^a-z0-9]")


def name_key(name: str) -> str:
    """``openai.RateLimitError`` -> ``ratelimit``; ``rate_limit_error`` -> ``ratelimit``."""
    key = _WORDS.sub("", re.split(r"[.:]", name.strip())[-1].lower())
    for suffix in ("exception", "error"):
        if key.endswith(suffix) and key != suffix:
            return key[: -len(suffix)]
    return key


def error_class_of_name(name: str | None) -> ErrorClass | None:
    """The class an exception class name, provider error code or HTTP status number names; None when it
    names none (the caller then looks at the HTTP status)."""
    text = (name or "").strip()
    if not text:
        return None
    if text.lower() in _CLASS_VALUES:
        return ErrorClass(text.lower())
    if text.lower() in ERROR_CODES:
        return ERROR_CODES[text.lower()]
    key = name_key(text)
    if key.isdigit():
        return error_class_for_status(int(key)) or ErrorClass.OTHER
    if key.startswith(("contentfilter", "contentpolicy")):
        return ErrorClass.CONTENT_FILTERED
    return ERROR_NAMES.get(key)


def classify_error(type_name: str | None, http_status: int | None, provider: str | None = None) -> ErrorClass:
    """The error class of a failed call from its exception class name or provider error code, else its
    HTTP status (as ``provider`` documents it), else ``other``."""
    by_name = error_class_of_name(type_name)
    if by_name is not None:
        return by_name
    if http_status is not None and provider in PROVIDER_STATUS:
        own = PROVIDER_STATUS[provider].get(http_status)
        if own is not None:
            return own
    return error_class_for_status(http_status) or ErrorClass.OTHER
