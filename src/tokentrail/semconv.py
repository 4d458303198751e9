"""Attribute names: OTel GenAI semantic conventions (old and new spellings), OpenLLMetry, OpenInference, and
tokentrail's own ``tokentrail.*`` extras. The one place these strings are spelled."""

from __future__ import annotations

from typing import Final

# --- OTel GenAI (v1.26 .. v1.41 and the semantic-conventions-genai dev names) ---------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_SYSTEM: Final = "gen_ai.system"  # deprecated spelling of provider.name
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"  # seconds
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_PROMPT_TOKENS: Final = "gen_ai.usage.prompt_tokens"  # <= v1.26
GEN_AI_USAGE_COMPLETION_TOKENS: Final = "gen_ai.usage.completion_tokens"  # <= v1.26
GEN_AI_USAGE_CACHE_READ: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE: Final = "gen_ai.usage.cache_write.input_tokens"  # genai repo (dev)
GEN_AI_USAGE_CACHE_CREATION: Final = "gen_ai.usage.cache_creation.input_tokens"  # v1.40-v1.41
GEN_AI_USAGE_REASONING: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_PROMPT_NAME: Final = "gen_ai.prompt.name"
GEN_AI_PROMPT_VERSION: Final = "gen_ai.prompt.version"

# --- OTel RPC conventions, as the AWS SDK instrumentations set them ---------------------------------------
RPC_SYSTEM: Final = "rpc.system"  # "aws-api"
RPC_SERVICE: Final = "rpc.service"  # "Bedrock Runtime"
RPC_METHOD: Final = "rpc.method"  # the AWS API operation: "Converse", "InvokeModel", ...

# The Bedrock Runtime operations whose API name is a Bedrock call's `operation` (as in invocation logs).
BEDROCK_OPERATIONS: Final = frozenset(
    {"Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"}
)
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
OPENAI_API_TYPE: Final = "openai.api.type"  # chat_completions | responses
ERROR_TYPE: Final = "error.type"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
SERVICE_NAME: Final = "service.name"
DEPLOYMENT_ENVIRONMENT: Final = "deployment.environment.name"
DEPLOYMENT_ENVIRONMENT_OLD: Final = "deployment.environment"

# --- OpenLLMetry (classic <= 0.4.x and current 0.5.x) ---------------------------------------------------
OLL_CACHE_READ: Final = "gen_ai.usage.cache_read_input_tokens"
OLL_CACHE_CREATION: Final = "gen_ai.usage.cache_creation_input_tokens"
OLL_REASONING_OLD: Final = "llm.usage.reasoning_tokens"
OLL_REASONING: Final = "gen_ai.usage.reasoning_tokens"
OLL_REQUEST_TYPE: Final = "llm.request.type"
OLL_IS_STREAMING_OLD: Final = "llm.is_streaming"
OLL_IS_STREAMING: Final = "gen_ai.is_streaming"
OLL_STOP_REASON_OLD: Final = "llm.response.stop_reason"
OLL_FINISH_REASON_OLD: Final = "llm.response.finish_reason"
OLL_FINISH_REASON: Final = "gen_ai.response.finish_reason"
OLL_STOP_REASON: Final = "gen_ai.response.stop_reason"
OLL_SPAN_KIND: Final = "traceloop.span.kind"
OLL_ASSOCIATION_PREFIX: Final = "traceloop.association.properties."
OLL_API_BASE: Final = "gen_ai.openai.api_base"

# --- OpenInference -------------------------------------------------------------------------------------
OI_SPAN_KIND: Final = "openinference.span.kind"
OI_MODEL_NAME: Final = "llm.model_name"
OI_EMBEDDING_MODEL_NAME: Final = "embedding.model_name"
OI_PROVIDER: Final = "llm.provider"
OI_SYSTEM: Final = "llm.system"
OI_PROMPT_TOKENS: Final = "llm.token_count.prompt"
OI_COMPLETION_TOKENS: Final = "llm.token_count.completion"
OI_CACHE_READ: Final = "llm.token_count.prompt_details.cache_read"
OI_CACHE_WRITE: Final = "llm.token_count.prompt_details.cache_write"
OI_REASONING: Final = "llm.token_count.completion_details.reasoning"
OI_FINISH_REASON: Final = "llm.finish_reason"
OI_SESSION_ID: Final = "session.id"
OI_USER_ID: Final = "user.id"
OI_METADATA: Final = "metadata"
OI_INVOCATION_PARAMETERS: Final = "llm.invocation_parameters"
OI_TOOL_NAME: Final = "tool.name"

# --- tokentrail extras (emitted by the tokentrail SDK) ---------------------------------------------------
TT_PREFIX: Final = "tokentrail."
TT_KIND: Final = "tokentrail.kind"
TT_TTFT_MS: Final = "tokentrail.ttft_ms"
TT_TTLT_MS: Final = "tokentrail.ttlt_ms"
TT_STREAM_DURATION_MS: Final = "tokentrail.stream_duration_ms"
TT_CHUNKS: Final = "tokentrail.chunks"
TT_ITL_P50_MS: Final = "tokentrail.itl.p50_ms"
TT_ITL_P95_MS: Final = "tokentrail.itl.p95_ms"
TT_ITL_MAX_MS: Final = "tokentrail.itl.max_ms"
TT_OUTPUT_TOKENS_PER_S: Final = "tokentrail.output_tokens_per_s"
TT_TIMELINE_OFFSETS_MS: Final = "tokentrail.timeline.offsets_ms"  # output chunks' arrival, ms from the start
TT_TIMELINE_CHUNKS: Final = (
    "tokentrail.timeline.chunks"  # their numbers, when downsampled (model.StreamTimeline)
)
TT_ATTEMPTS: Final = "tokentrail.attempts"
TT_DEGRADED: Final = "tokentrail.degraded"
TT_ERROR_CLASS: Final = "tokentrail.error_class"
TT_HTTP_STATUS: Final = "tokentrail.http_status"
TT_STOP_REASON: Final = "tokentrail.stop_reason"
TT_TOOL_NAMES: Final = "tokentrail.tool_names"
TT_PROMPT_CHARS: Final = "tokentrail.prompt_chars"
TT_TOOL_CHOICE: Final = "tokentrail.request.tool_choice"  # auto, none, required or {"name": ...} (JSON)
TT_COMPRESSION_RATIO: Final = "tokentrail.compression_ratio"
TT_SOURCE: Final = "tokentrail.source"
TT_METADATA_PREFIX: Final = "tokentrail.metadata."
TT_BUDGET_EXCEEDED: Final = "tokentrail.budget_exceeded"  # "<scope>=<value>" on a call over budget
TT_DEGRADED_COUNT: Final = "tokentrail.degraded_count"  # on a trace root: fallbacks inside the trace
TT_ROUND: Final = "tokentrail.round"  # index of a tool-loop round (tokentrail.round())
TT_REQUEST_METADATA_DROPPED: Final = "tokentrail.request_metadata_dropped"  # labels not sent to Bedrock
TT_BEDROCK_INVOCATION_LATENCY_MS: Final = "tokentrail.bedrock.invocation_latency_ms"
TT_BEDROCK_FIRST_BYTE_LATENCY_MS: Final = "tokentrail.bedrock.first_byte_latency_ms"
TT_BEDROCK_LATENCY_MS: Final = "tokentrail.bedrock.latency_ms"  # Converse metrics.latencyMs
# Labels are emitted as tokentrail.<label>, e.g. tokentrail.feature (see model.LABELS).


def label_attribute(label: str) -> str:
    """The span attribute that carries a label (``feature`` -> ``tokentrail.feature``)."""
    return TT_PREFIX + label


# Old provider spellings -> gen_ai.provider.name values.
PROVIDER_ALIASES: Final[dict[str, str]] = {
    "az.ai.inference": "azure.ai.inference",
    "az.ai.openai": "azure.ai.openai",
    "azure": "azure.ai.openai",
    "vertex_ai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "google": "gcp.gen_ai",
    "xai": "x_ai",
    "bedrock": "aws.bedrock",
    "aws": "aws.bedrock",
    "amazon_bedrock": "aws.bedrock",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "watsonx": "ibm.watsonx.ai",
    "huggingface": "hugging_face",
    "together": "together_ai",
    "moonshot": "moonshot_ai",
}


def normalize_provider(value: str | None) -> str | None:
    if not value:
        return None
    low = value.strip().lower()
    return PROVIDER_ALIASES.get(low, low)
