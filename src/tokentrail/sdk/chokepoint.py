"""The steps every choke point takes around an SDK's call, for the Stainless SDKs (`tokentrail.sdk.stainless`:
openai, anthropic) and botocore (`tokentrail.sdk.bedrock`) alike.

A provider describes its SDK in a `ChokePoint`: what a call is (`describe`), what to send (`arguments`) and
what to do with the result (`returned`). `record` wraps the SDK's method with the shared steps:

1. `begin`: unless a call is already being recorded (an inner layer of patching), ask the provider what the
   call is (None: not an LLM call), check the budget guard (`tokentrail.sdk.budget`: it may refuse the call,
   or name a cheaper model to send instead), get the arguments to send, start the call record
   (`tokentrail.sdk.call`) and make it the active call, which the per-attempt hooks count.
2. the SDK's method runs; if it raises, the call ends with the exception.
3. `returned` hands the result to the provider, which ends the call with the response, or gives a stream its
   timer (the call ends with the stream).

A bug of tokentrail's in steps 1 and 3 is reported (`tokentrail.sdk.errors.internal_error`) and the
application's call goes on unrecorded; a refusal by the budget guard is raised to the application.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from tokentrail.sdk import budget
from tokentrail.sdk.call import ACTIVE_CALL, CallRecord, Engine, ProviderErrors, Request, start_call
from tokentrail.sdk.errors import internal_error

Args = tuple[tuple[Any, ...], dict[str, Any]]
"""The positional and keyword arguments of the SDK's method (after its ``self``)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ChokePoint:
    """One provider's choke point."""

    describe: Callable[[Engine, Any, tuple[Any, ...], dict[str, Any]], Request | None]
    """(engine, client, args, kwargs): what the call is; None when it is not an LLM call."""
    arguments: Callable[[Engine, Request, tuple[Any, ...], dict[str, Any], str | None], Args]
    """(engine, request, args, kwargs, cheaper model or None): the arguments to send, never changing the
    caller's objects (copies)."""
    returned: Callable[[CallRecord, Any], None]
    """(call, result): end the call with the SDK's result, or hand it the result's stream."""
    errors: ProviderErrors


Begin = Callable[[Any, tuple[Any, ...], dict[str, Any]], "tuple[Any, tuple[Any, ...], dict[str, Any]] | None"]


def around(
    orig: Callable[..., Any],
    is_async: bool,
    begin: Begin,
    failed: Callable[[Any, BaseException], None],
    done: Callable[[Any, Any], Any],
) -> Callable[..., Any]:
    """The one wrapper shape, sync or async: ``begin(self, args, kwargs)`` returns (state, args, kwargs), or
    None to leave the call alone; then ``failed(state, exc)`` sees the exception or ``done(state, result)``
    the result (and returns what the caller gets)."""
    if is_async:

        async def wrapper_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            begun = begin(self, args, kwargs)
            if begun is None:
                return await orig(self, *args, **kwargs)
            state, args, kwargs = begun
            try:
                result = await orig(self, *args, **kwargs)
            except BaseException as exc:
                failed(state, exc)
                raise
            return done(state, result)

        return wrapper_async

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        begun = begin(self, args, kwargs)
        if begun is None:
            return orig(self, *args, **kwargs)
        state, args, kwargs = begun
        try:
            result = orig(self, *args, **kwargs)
        except BaseException as exc:
            failed(state, exc)
            raise
        return done(state, result)

    return wrapper


def record(engine: Engine, point: ChokePoint, is_async: bool) -> Callable[[Callable[..., Any]], Any]:
    """The wrapper factory (`tokentrail.sdk.patching`) that records the calls made through a method."""
    begin_call = functools.partial(begin, engine, point)
    returned = functools.partial(_returned, point)
    return lambda orig: around(orig, is_async, begin_call, _failed, returned)


def begin(
    engine: Engine, point: ChokePoint, client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[CallRecord, tuple[Any, ...], dict[str, Any]] | None:
    """Start recording the call; returns it with the arguments to send, or None to leave the call alone."""
    if ACTIVE_CALL.get() is not None:  # an inner layer of patching: the outer one records
        return None
    try:
        request = point.describe(engine, client, args, kwargs)
        if request is None:
            return None
        verdict = budget.check(request.model)
        cheaper = verdict.model if verdict is not None else None
        if cheaper is not None:
            request.model = cheaper
        args, kwargs = point.arguments(engine, request, args, kwargs, cheaper)
        call = start_call(engine, request, point.errors)
        if verdict is not None:
            verdict.apply(call)  # "raise": ends the call and raises BudgetExceeded
        call.enter()
        return call, args, kwargs
    except budget.BudgetExceeded:
        raise
    except Exception:
        internal_error(engine.settings.raises)
        return None


def _failed(call: CallRecord, exc: BaseException) -> None:
    call.leave()
    call.end(exc=exc)


def _returned(point: ChokePoint, call: CallRecord, result: Any) -> Any:
    call.leave()
    handle_result(point.returned, call, result)
    return result


def handle_result(returned: Callable[[CallRecord, Any], None], call: CallRecord, result: Any) -> None:
    """Hand `result` to the provider's `returned`; a bug there ends the call without its response."""
    try:
        returned(call, result)
    except Exception:
        call.internal_error()
        call.end()
