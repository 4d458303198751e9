"""One function per OpenAI and Anthropic API the demo uses. Each makes the call through the official client,
reads the usage the provider reported (normalised: input includes cache reads and writes) into the ledger
entry, and returns what the scenario needs next: the text and any tool calls."""

from __future__ import annotations

import dataclasses
from typing import Any

from tokentrail.demo.ledger import Entry
from tokentrail.demo.providers import Directive, Providers, headers
from tokentrail.errors import FILTERED_STOP_REASONS


@dataclasses.dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclasses.dataclass(slots=True)
class Reply:
    text: str = ""
    tool_calls: list[ToolCall] = dataclasses.field(default_factory=list)
    stop: str | None = None


def _finish(entry: Entry, reply: Reply) -> Reply:
    if reply.stop in FILTERED_STOP_REASONS:
        entry.error = reply.stop
    return reply


def _attr(obj: Any, *path: str) -> Any:
    for name in path:
        obj = getattr(obj, name, None)
    return obj


# --- OpenAI -----------------------------------------------------------------------------------------------


def _openai_usage(entry: Entry, usage: Any, input_key: str, output_key: str, details: str) -> None:
    if usage is None:
        return
    entry.input_tokens = getattr(usage, input_key) or 0
    entry.output_tokens = getattr(usage, output_key) or 0
    entry.cache_read_tokens = _attr(usage, details, "cached_tokens") or 0


def chat(
    p: Providers,
    model: str,
    messages: list[dict[str, Any]],
    *,
    stream: bool = False,
    tools: list[dict[str, Any]] | None = None,
    directive: Directive | None = None,
    max_tokens: int | None = None,
) -> Reply:
    """Chat Completions; a stream asks for usage in its last chunk (``include_usage``)."""
    extra: dict[str, Any] = {"tools": tools} if tools else {}
    if max_tokens:
        extra["max_tokens"] = max_tokens
    with p.call("openai", model, "chat", stream, directive) as entry:
        if not stream:
            resp = p.openai.chat.completions.create(
                model=model,
                messages=messages,
                extra_headers=headers(directive),
                **extra,
            )
            _openai_usage(entry, resp.usage, "prompt_tokens", "completion_tokens", "prompt_tokens_details")
            return _finish(entry, _chat_reply(resp.choices[0]))
        chunks = p.openai.chat.completions.create(
            model=model, messages=messages, stream=True, stream_options={"include_usage": True},
            extra_headers=headers(directive), **extra,
        )  # fmt: skip
        reply = Reply()
        for chunk in chunks:
            _chat_chunk(reply, chunk)
            if chunk.usage is not None:
                _openai_usage(
                    entry, chunk.usage, "prompt_tokens", "completion_tokens", "prompt_tokens_details"
                )
        return _finish(entry, reply)


def _chat_reply(choice: Any) -> Reply:
    calls = [ToolCall(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls or ()]
    return Reply(choice.message.content or "", calls, choice.finish_reason)


def _chat_chunk(reply: Reply, chunk: Any) -> None:
    for choice in chunk.choices:
        reply.text += choice.delta.content or ""
        for delta in choice.delta.tool_calls or ():
            if delta.id:
                reply.tool_calls.append(ToolCall(delta.id, _attr(delta, "function", "name") or "", ""))
            if reply.tool_calls and _attr(delta, "function", "arguments"):
                reply.tool_calls[-1].arguments += delta.function.arguments
        if choice.finish_reason:
            reply.stop = choice.finish_reason


def responses(
    p: Providers, model: str, text: str, *, stream: bool = False, instructions: str | None = None
) -> Reply:
    """The Responses API; a stream's usage arrives with ``response.completed``."""
    extra = {"instructions": instructions} if instructions else {}
    with p.call("openai", model, "responses", stream, None) as entry:
        if not stream:
            resp = p.openai.responses.create(model=model, input=text, **extra)
            _openai_usage(entry, resp.usage, "input_tokens", "output_tokens", "input_tokens_details")
            return _finish(entry, Reply(resp.output_text, stop=resp.status))
        reply = Reply()
        for event in p.openai.responses.create(model=model, input=text, stream=True, **extra):
            if event.type == "response.output_text.delta":
                reply.text += event.delta
            elif event.type == "response.completed":
                usage = event.response.usage
                _openai_usage(entry, usage, "input_tokens", "output_tokens", "input_tokens_details")
                reply.stop = event.response.status
        return _finish(entry, reply)


def embed(p: Providers, model: str, inputs: list[str]) -> int:
    """Embeddings (input tokens only); returns how many vectors came back."""
    with p.call("openai", model, "embeddings", False, None) as entry:
        resp = p.openai.embeddings.create(model=model, input=inputs)
        entry.input_tokens = resp.usage.prompt_tokens
        return len(resp.data)


# --- Anthropic --------------------------------------------------------------------------------------------


def _anthropic_usage(entry: Entry, usage: Any) -> None:
    read = getattr(usage, "cache_read_input_tokens", None) or 0
    write = getattr(usage, "cache_creation_input_tokens", None) or 0
    entry.input_tokens = (getattr(usage, "input_tokens", None) or 0) + read + write
    entry.cache_read_tokens, entry.cache_write_tokens = read, write
    entry.output_tokens = getattr(usage, "output_tokens", None) or entry.output_tokens


def claude(
    p: Providers,
    model: str,
    system: str | list[dict[str, Any]],
    messages: list[dict[str, Any]],
    *,
    stream: bool = False,
    max_tokens: int = 1024,
    tools: list[dict[str, Any]] | None = None,
    directive: Directive | None = None,
) -> Reply:
    """The Messages API; a stream reports usage in ``message_start`` (input) and ``message_delta``."""
    args: dict[str, Any] = {"model": model, "system": system, "messages": messages, "max_tokens": max_tokens}
    if tools:
        args["tools"] = tools
    with p.call("anthropic", model, "messages", stream, directive) as entry:
        if not stream:
            msg = p.anthropic.messages.create(**args, extra_headers=headers(directive))
            _anthropic_usage(entry, msg.usage)
            reply = Reply(stop=msg.stop_reason)
            for block in msg.content:
                _claude_block(reply, block)
            return _finish(entry, reply)
        reply = Reply()
        for event in p.anthropic.messages.create(**args, stream=True, extra_headers=headers(directive)):
            _claude_event(entry, reply, event)
        return _finish(entry, reply)


def _claude_block(reply: Reply, block: Any) -> None:
    if block.type == "text":
        reply.text += block.text
    elif block.type == "tool_use":
        reply.tool_calls.append(ToolCall(block.id, block.name, str(block.input)))


def _claude_event(entry: Entry, reply: Reply, event: Any) -> None:
    if event.type == "message_start":
        _anthropic_usage(entry, event.message.usage)
    elif event.type == "content_block_start":
        _claude_block(reply, event.content_block)
    elif event.type == "content_block_delta" and event.delta.type == "text_delta":
        reply.text += event.delta.text
    elif event.type == "message_delta":
        entry.output_tokens = event.usage.output_tokens
        reply.stop = event.delta.stop_reason
