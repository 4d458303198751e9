"""Send a rebuilt request through its provider's official client, the way the original call was made:
streamed when it was streamed (``stream`` in the document), and for OpenAI through the API it used (``api``:
Responses or Chat Completions). A stream is read to its end, so the instrumentation records its TTFT.
The answer is returned as compared (its text and the names of the tools it called)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tokentrail.replay.providers import (
    anthropic_answer,
    anthropic_request,
    bedrock_answer,
    bedrock_request,
    openai_answer,
    openai_request,
    responses_answer,
    responses_request,
)
from tokentrail.replay.requests import Doc

FINAL_EVENTS = ("response.completed", "response.incomplete")


def joined(texts: list[str], names: list[str]) -> str:
    return " ".join(["".join(texts), *(n for n in names if n)]).strip()


def openai_chat(client: Any, model: str, doc: Doc) -> str:
    request = openai_request(doc)
    if not doc.get("stream"):
        return openai_answer(client.chat.completions.create(model=model, **request))
    texts: list[str] = []
    names: list[str] = []
    with client.chat.completions.create(model=model, stream=True, **request) as chunks:
        for chunk in chunks:
            for delta in (c.delta for c in chunk.choices[:1]):
                texts.append(delta.content or "")
                names += [c.function.name for c in delta.tool_calls or () if c.function]
    return joined(texts, names)


def openai_responses(client: Any, model: str, doc: Doc) -> str:
    request = responses_request(doc)
    if not doc.get("stream"):
        return responses_answer(client.responses.create(model=model, **request))
    with client.responses.create(model=model, stream=True, **request) as events:
        final = [event.response for event in events if event.type in FINAL_EVENTS]
    if not final:
        raise RuntimeError("the response stream ended without its final response")
    return responses_answer(final[-1])


def openai_send(client: Any, model: str, doc: Doc) -> str:
    return (openai_responses if doc.get("api") == "responses" else openai_chat)(client, model, doc)


def anthropic_send(client: Any, model: str, doc: Doc) -> str:
    request = anthropic_request(doc)
    if not doc.get("stream"):
        return anthropic_answer(client.messages.create(model=model, **request))
    with client.messages.stream(model=model, **request) as stream:
        return anthropic_answer(stream.get_final_message())


def bedrock_send(client: Any, model: str, doc: Doc) -> str:
    request = bedrock_request(doc)
    if not doc.get("stream"):
        return bedrock_answer(client.converse(modelId=model, **request))
    texts: list[str] = []
    names: list[str] = []
    for event in client.converse_stream(modelId=model, **request)["stream"]:
        texts.append(event.get("contentBlockDelta", {}).get("delta", {}).get("text", ""))
        names.append(event.get("contentBlockStart", {}).get("start", {}).get("toolUse", {}).get("name", ""))
    return joined(texts, names)


SENDERS: dict[str, Callable[[Any, str, Doc], str]] = {
    "openai": openai_send,
    "anthropic": anthropic_send,
    "aws.bedrock": bedrock_send,
}


def send(provider: str, client: Any, doc: Doc, model: str) -> str:
    """Send the document's request to `model` through `client`; the answer as compared."""
    return SENDERS[provider](client, model, doc)


def make_client(provider: str, endpoint: str | None) -> Any:
    """The provider's official client; `endpoint` is its base URL (else the client's own settings)."""
    if provider == "openai":
        import openai

        return openai.OpenAI(base_url=endpoint) if endpoint else openai.OpenAI()
    if provider == "anthropic":
        import anthropic

        return anthropic.Anthropic(base_url=endpoint) if endpoint else anthropic.Anthropic()
    import boto3

    return boto3.client("bedrock-runtime", endpoint_url=endpoint or None)
