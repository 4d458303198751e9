"""A separate program that instruments the official openai client with a third-party OTel instrumentation
(OpenLLMetry or OpenInference), calls the simulator, and exports the spans to a collector.

Run as: python otel_client.py openllmetry|openinference protobuf|json|grpc COLLECTOR SIMULATOR_URL
COLLECTOR is the OTLP/HTTP base URL, or for grpc the OTLP/gRPC target (host:port), exported gzip-compressed.
Prints one JSON line: the plan headers the simulator sent for the plain and the streamed call.
It is its own process because instrumentations patch the openai module globally.
"""

from __future__ import annotations

import base64
import json
import sys

import httpx
import openai
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def instrument(which: str, provider: TracerProvider) -> None:
    if which == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as OLL

        OLL().instrument(tracer_provider=provider)
    else:
        from openinference.instrumentation.openai import OpenAIInstrumentor as OI

        OI().instrument(tracer_provider=provider)


def post_json(collector: str, memory: InMemorySpanExporter) -> None:
    """OTLP/HTTP JSON: the same spans, encoded with the OTLP JSON rules (hex ids, int64 as strings)."""
    data = json_format.MessageToDict(encode_spans(memory.get_finished_spans()), use_integers_for_enums=True)
    for rs in data["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    response = httpx.post(f"{collector}/v1/traces", json=data, timeout=30)
    response.raise_for_status()


def exporter(encoding: str, collector: str, memory: InMemorySpanExporter) -> SpanExporter:
    if encoding == "protobuf":
        return OTLPSpanExporter(endpoint=f"{collector}/v1/traces")
    if encoding == "grpc":
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=collector, insecure=True, compression=grpc.Compression.Gzip)
    return memory


def main() -> None:
    which, encoding, collector, simulator = sys.argv[1:5]
    provider = TracerProvider(resource=Resource.create({"service.name": f"it-{which}"}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter(encoding, collector, memory)))
    instrument(which, provider)
    client = openai.OpenAI(base_url=f"{simulator}/v1", api_key="sim", max_retries=0)
    directive = {"x-tokentrail-sim": json.dumps({"ttft_ms": 150, "itl_ms": 10, "output_tokens": 24})}
    messages = [{"role": "user", "content": "Summarise my order status please"}]
    plain = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=messages, extra_headers=directive
    )
    plain.parse()
    # Streamed normally: instrumentations do not wrap streams taken through with_raw_response. The plan is
    # the same as the plain call's (same prompt, same directive), so its header serves for both.
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=directive,
    )
    for _ in stream:
        pass
    provider.force_flush()
    if encoding == "json":
        post_json(collector, memory)
    provider.shutdown()
    plan = json.loads(plain.headers["x-tokentrail-sim-plan"])
    print(json.dumps({"plain": plan, "stream": plan}))


if __name__ == "__main__":
    main()
