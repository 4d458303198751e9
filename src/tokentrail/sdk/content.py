"""Content capture: a call's request and response as the GenAI semantic conventions' content attributes.

Only with capture on (`configure(capture_content=True)` or ``labels(..., capture_content=True)``; off by
default). On the span worker, the request body (copied on the caller's thread when the call began) and the
response become ``gen_ai.system_instructions``, ``gen_ai.input.messages``, ``gen_ai.tool.definitions`` and
``gen_ai.output.messages`` (JSON strings of the conventions' message and part shapes), the request's
sampling parameters ``gen_ai.request.*`` and its tool choice ``tokentrail.request.tool_choice``. A stream's
output is the text assembled from its chunks, with its tool calls by name. Formats: OpenAI Chat
Completions, Responses and legacy completions, Anthropic Messages (also inside Bedrock InvokeModel), Bedrock
Converse (also Amazon Nova InvokeModel bodies), and a plain prompt (Meta Llama InvokeModel bodies).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from tokentrail import semconv as sc
from tokentrail.sdk.fields import get

Part = dict[str, Any]
Message = dict[str, Any]


def text(value: Any) -> Part:
    return {"type": "text", "content": value if isinstance(value, str) else json.dumps(value, default=str)}


def tool_call(ident: Any, name: Any, arguments: Any) -> Part:
    if isinstance(arguments, str):
        with contextlib.suppress(ValueError):
            arguments = json.loads(arguments)
    return {"type": "tool_call", "id": ident, "name": name, "arguments": arguments}


def plain(value: Any) -> Any:
    """SDK models (pydantic) as plain data; anything else as it is."""
    dump = getattr(value, "model_dump", None)
    return dump(mode="json", exclude_none=True) if callable(dump) else value


# --- OpenAI -----------------------------------------------------------------------------------------------


def _openai_parts(content: Any) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [text(content)]
    parts = []
    for item in content:
        kind = get(item, "type")
        if kind in ("text", "input_text", "output_text"):
            parts.append(text(get(item, "text")))
        elif kind == "image_url":
            parts.append({"type": "uri", "modality": "image", "uri": get(get(item, "image_url"), "url")})
        else:
            parts.append({"type": str(kind), **(plain(item) if isinstance(plain(item), dict) else {})})
    return parts


def openai_message(m: Any) -> Message:
    role = get(m, "role") or "user"
    if role == "tool":
        return {
            "role": "tool",
            "parts": [
                {"type": "tool_call_response", "id": get(m, "tool_call_id"), "response": get(m, "content")}
            ],
        }
    parts = _openai_parts(get(m, "content"))
    for call in get(m, "tool_calls") or ():
        function = get(call, "function")
        parts.append(tool_call(get(call, "id"), get(function, "name"), get(function, "arguments")))
    return {"role": role, "parts": parts}


def openai_tools(tools: Any) -> list[Any]:
    out = []
    for tool in tools or ():
        function = get(tool, "function")
        if function is not None:
            out.append(
                {
                    "type": "function",
                    "name": get(function, "name"),
                    "description": get(function, "description"),
                    "parameters": get(function, "parameters"),
                }
            )
        else:
            out.append(plain(tool))
    return out


def openai_chat_input(body: Mapping[str, Any]) -> tuple[Any, list[Message], Any]:
    return None, [openai_message(m) for m in body.get("messages") or ()], openai_tools(body.get("tools"))


def openai_responses_input(body: Mapping[str, Any]) -> tuple[Any, list[Message], Any]:
    items = body.get("input")
    messages: list[Message] = []
    for item in [{"role": "user", "content": items}] if isinstance(items, str) else items or ():
        if get(item, "type") == "function_call_output":
            response = {
                "type": "tool_call_response",
                "id": get(item, "call_id"),
                "response": get(item, "output"),
            }
            messages.append({"role": "tool", "parts": [response]})
        elif get(item, "type") == "function_call":
            part = tool_call(get(item, "call_id"), get(item, "name"), get(item, "arguments"))
            messages.append({"role": "assistant", "parts": [part]})
        else:
            messages.append(
                {"role": get(item, "role") or "user", "parts": _openai_parts(get(item, "content"))}
            )
    system = [text(body["instructions"])] if body.get("instructions") else None
    return system, messages, openai_tools(body.get("tools"))


def prompt_input(body: Mapping[str, Any]) -> tuple[Any, list[Message], Any]:
    prompt = body.get("prompt")
    prompts = prompt if isinstance(prompt, list) else [prompt] if prompt is not None else []
    return None, [{"role": "user", "parts": [text(p) for p in prompts]}], None


def openai_chat_output(resp: Any) -> list[Message]:
    out = []
    for choice in get(resp, "choices") or ():
        message = openai_message(get(choice, "message") or {"role": "assistant"})
        out.append({**message, "role": "assistant", "finish_reason": get(choice, "finish_reason")})
    return out


def openai_completion_output(resp: Any) -> list[Message]:
    return [
        {"role": "assistant", "parts": [text(get(c, "text"))], "finish_reason": get(c, "finish_reason")}
        for c in get(resp, "choices") or ()
    ]


def openai_responses_output(resp: Any) -> list[Message]:
    parts: list[Part] = []
    for item in get(resp, "output") or ():
        if get(item, "type") == "message":
            parts += _openai_parts(get(item, "content"))
        elif get(item, "type") == "function_call":
            parts.append(tool_call(get(item, "call_id"), get(item, "name"), get(item, "arguments")))
    return [{"role": "assistant", "parts": parts, "finish_reason": get(resp, "status")}]


# --- Anthropic Messages -----------------------------------------------------------------------------------


def anthropic_parts(content: Any) -> list[Part]:
    if isinstance(content, str):
        return [text(content)]
    parts = []
    for block in content or ():
        kind = get(block, "type")
        if kind == "text":
            parts.append(text(get(block, "text")))
        elif kind in ("tool_use", "server_tool_use"):
            parts.append(tool_call(get(block, "id"), get(block, "name"), plain(get(block, "input"))))
        elif kind == "tool_result":
            response = plain(get(block, "content"))
            parts.append(
                {"type": "tool_call_response", "id": get(block, "tool_use_id"), "response": response}
            )
        elif kind == "thinking":
            parts.append({"type": "reasoning", "content": get(block, "thinking")})
        else:
            parts.append({"type": str(kind)})
    return parts


def anthropic_input(body: Mapping[str, Any]) -> tuple[Any, list[Message], Any]:
    system = body.get("system")
    messages = [
        {"role": get(m, "role"), "parts": anthropic_parts(get(m, "content"))}
        for m in body.get("messages") or ()
    ]
    tools = [
        {
            "type": "function",
            "name": get(t, "name"),
            "description": get(t, "description"),
            "parameters": get(t, "input_schema"),
        }
        for t in body.get("tools") or ()
    ]
    return (anthropic_parts(system) if system else None), messages, tools or None


def anthropic_output(resp: Any) -> list[Message]:
    parts = anthropic_parts(get(resp, "content"))
    return [{"role": "assistant", "parts": parts, "finish_reason": get(resp, "stop_reason")}]


# --- Bedrock Converse -------------------------------------------------------------------------------------


def converse_parts(content: Any) -> list[Part]:
    parts = []
    for block in content or ():
        if "text" in block:
            parts.append(text(block["text"]))
        elif "toolUse" in block:
            use = block["toolUse"]
            parts.append(tool_call(use.get("toolUseId"), use.get("name"), use.get("input")))
        elif "toolResult" in block:
            result = block["toolResult"]
            response = [c.get("text", c.get("json")) for c in result.get("content") or ()]
            parts.append({"type": "tool_call_response", "id": result.get("toolUseId"), "response": response})
        else:
            parts.append({"type": next(iter(block), "unknown")})
    return parts


def converse_input(body: Mapping[str, Any]) -> tuple[Any, list[Message], Any]:
    system = [text(s["text"]) for s in body.get("system") or () if "text" in s]
    messages = [
        {"role": m.get("role"), "parts": converse_parts(m.get("content"))} for m in body.get("messages") or ()
    ]
    tools = []
    for tool in get(body.get("toolConfig"), "tools") or ():
        spec = tool.get("toolSpec") or {}
        tools.append(
            {
                "type": "function",
                "name": spec.get("name"),
                "description": spec.get("description"),
                "parameters": get(spec.get("inputSchema"), "json"),
            }
        )
    return system or None, messages, tools or None


def converse_output(resp: Any) -> list[Message]:
    message = get(get(resp, "output"), "message") or {}
    return [
        {
            "role": "assistant",
            "parts": converse_parts(message.get("content")),
            "finish_reason": get(resp, "stopReason"),
        }
    ]


def prompt_output(resp: Any) -> list[Message]:
    return [
        {
            "role": "assistant",
            "parts": [text(get(resp, "generation"))],
            "finish_reason": get(resp, "stop_reason"),
        }
    ]


# --- the attributes ---------------------------------------------------------------------------------------

Input = Callable[[Mapping[str, Any]], tuple[Any, list[Message], Any]]
Output = Callable[[Any], list[Message]]
FORMATS: dict[str, tuple[Input, Output]] = {
    "openai_chat": (openai_chat_input, openai_chat_output),
    "openai_responses": (openai_responses_input, openai_responses_output),
    "openai_completion": (prompt_input, openai_completion_output),
    "anthropic": (anthropic_input, anthropic_output),
    "converse": (converse_input, converse_output),
    "prompt": (prompt_input, prompt_output),
}
PARAMS = {  # request field -> attribute, across the formats
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "topP": sc.GEN_AI_REQUEST_TOP_P,
    "max_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_completion_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_output_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "maxTokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_gen_len": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "stop_sequences": sc.GEN_AI_REQUEST_STOP_SEQUENCES,
    "stopSequences": sc.GEN_AI_REQUEST_STOP_SEQUENCES,
    "stop": sc.GEN_AI_REQUEST_STOP_SEQUENCES,
    "top_k": sc.GEN_AI_REQUEST_TOP_K,
    "seed": sc.GEN_AI_REQUEST_SEED,
    "frequency_penalty": sc.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": sc.GEN_AI_REQUEST_PRESENCE_PENALTY,
}
CHOICES = {"auto": "auto", "none": "none", "required": "required", "any": "required"}


def params(body: Mapping[str, Any]) -> dict[str, Any]:
    fields = {**(get(body, "inferenceConfig") or {}), **body}
    found: dict[str, Any] = {}
    for key, attribute in PARAMS.items():
        value = fields.get(key)
        if isinstance(value, str):
            value = (value,) if attribute == sc.GEN_AI_REQUEST_STOP_SEQUENCES else None
        if isinstance(value, int | float | list | tuple) and not isinstance(value, bool):
            found[attribute] = tuple(value) if isinstance(value, list) else value
    return found


def tool_choice(body: Mapping[str, Any]) -> Any:
    """The request's tool choice in one shape for every format: auto, none, required or {"name": ...}."""
    choice = body.get("tool_choice") or get(body.get("toolConfig"), "toolChoice")
    if isinstance(choice, str):
        return CHOICES.get(choice)
    if not isinstance(choice, Mapping):
        return None
    if len(choice) == 1 and next(iter(choice)) in ("auto", "any", "tool"):  # Converse: {"tool": {"name": x}}
        kind, value = next(iter(choice.items()))
        choice = {"type": kind, **(value or {})}
    name = choice.get("name") or get(choice.get("function"), "name")
    return {"name": name} if name else CHOICES.get(str(choice.get("type")))


def stream_output(chunks: list[str] | None, tool_names: list[str], stop_reason: str | None) -> list[Message]:
    """A stream's output as one message: its text, tool calls and stop reason, as the worker read them."""
    parts: list[Part] = [text("".join(chunks))] if chunks else []
    parts += [{"type": "tool_call", "name": name} for name in tool_names]
    return [{"role": "assistant", "parts": parts, "finish_reason": stop_reason}]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _body(response: Any) -> Any:
    """A Bedrock InvokeModel result's body (bytes, see `tokentrail.sdk.bedrock.take_body`) as JSON."""
    if isinstance(response, Mapping) and isinstance(response.get("body"), bytes):
        return json.loads(response["body"])
    return response


def attributes(
    content_format: str | None, body: Any, response: Any, streamed: list[Message] | None
) -> dict[str, Any]:
    """The content attributes of a finished call: its request `body` in `content_format` (one of `FORMATS`),
    and its output, from the complete `response` or, for a stream, `streamed` (`stream_output`)."""
    fmt = FORMATS.get(content_format or "")
    if fmt is None or not isinstance(body, Mapping):
        return {}
    system, messages, tools = fmt[0](body)
    attrs: dict[str, Any] = {sc.GEN_AI_INPUT_MESSAGES: _dumps(messages), **params(body)}
    if system:
        attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = _dumps(system)
    if tools:
        attrs[sc.GEN_AI_TOOL_DEFINITIONS] = _dumps(tools)
    choice = tool_choice(body)
    if choice is not None:
        attrs[sc.TT_TOOL_CHOICE] = _dumps(choice)
    output = streamed
    if output is None and response is not None:
        output = fmt[1](_body(response))
    if output:
        attrs[sc.GEN_AI_OUTPUT_MESSAGES] = _dumps(output)
    return attrs
