"""The one error table (`tokentrail.errors`) over every exception class the official openai and anthropic
SDKs define, every error shape of Bedrock's runtime API and Anthropic's error types, found by introspection;
and the same class for the same error however it arrives (OTLP span, JSONL line, Bedrock log).

When an SDK upgrade adds an exception class, the first test fails and names it: add it to `BY_NAME` (its
name alone says its class), `BY_STATUS` (only its HTTP status does) or `LOCAL` (the library's own error,
not a provider's answer)."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import importlib
import json
import pkgutil
import typing
import warnings
from types import ModuleType

import pytest

from tokentrail.errors import FILTERED_STOP_REASONS, classify_error
from tokentrail.ingest.importers import bedrock_logs, jsonl
from tokentrail.ingest.normalize import to_call
from tokentrail.model import ErrorClass as E

STATUS: dict[int, E] = {
    400: E.INVALID_REQUEST,
    401: E.AUTH,
    402: E.INVALID_REQUEST,
    403: E.AUTH,
    404: E.INVALID_REQUEST,
    408: E.TIMEOUT,
    409: E.INVALID_REQUEST,
    412: E.INVALID_REQUEST,
    413: E.INVALID_REQUEST,
    422: E.INVALID_REQUEST,
    429: E.THROTTLED,
    431: E.INVALID_REQUEST,
    499: E.CANCELLED,
    501: E.SERVER_ERROR,
    503: E.SERVER_ERROR,
    504: E.TIMEOUT,
    529: E.SERVER_ERROR,
}
"""What each HTTP status an SDK class carries means on its own."""

BY_NAME: dict[str, E] = {
    "APITimeoutError": E.TIMEOUT,
    "RequestTimeoutError": E.TIMEOUT,
    "GatewayTimeoutError": E.TIMEOUT,
    "APIConnectionError": E.CONNECTION,
    "AuthenticationError": E.AUTH,
    "PermissionDeniedError": E.AUTH,
    "OAuthError": E.AUTH,
    "BadRequestError": E.INVALID_REQUEST,
    "NotFoundError": E.INVALID_REQUEST,
    "ConflictError": E.INVALID_REQUEST,
    "UnprocessableEntityError": E.INVALID_REQUEST,
    "PaymentRequiredError": E.INVALID_REQUEST,
    "PreconditionFailedError": E.INVALID_REQUEST,
    "ContentTooLargeError": E.INVALID_REQUEST,
    "RequestHeaderFieldsTooLargeError": E.INVALID_REQUEST,
    "RateLimitError": E.THROTTLED,
    "InternalServerError": E.SERVER_ERROR,
    "ServiceUnavailableError": E.SERVER_ERROR,
    "OverloadedError": E.SERVER_ERROR,
    "HTTPNotImplementedError": E.SERVER_ERROR,
    "ContentFilterFinishReasonError": E.CONTENT_FILTERED,
    "ClientClosedRequestError": E.CANCELLED,
}
"""Classes whose name alone gives their class; with the status the SDK attaches, the same class."""

_BY_STATUS_NAMES = """
AlreadyMemberError AvailableToolsLimitExceededError BetaApprovalRequiredError
BetaBundleAttachmentNotSupportedError BetaBundleOnCallError BetaCMEKFeatureUnsupportedError
BetaCMEKNotApprovedError BetaCannotSignOutPrimaryOwnerError BetaCannotSignOutSelfError
BetaEnvironmentArchivedError BetaExternalKeyNotFoundError BetaExternalKeyProviderMismatchError
BetaExternalStorageInUseError BetaExternalStorageInWorkspacePolicyError
BetaExternalStorageNotAvailableError BetaGCPProjectNotVerifiedError BetaGrantRequiredError
BetaHumanReviewNotAvailableError BetaHumanReviewOnWithExternalStorageError
BetaInvalidConfigTypeChangeError BetaInvalidMetadataError BetaInvalidStorageARNError
BetaOrganizationNotEligibleError BetaOrganizationNotEnrolledInBetaError BetaProviderNotAllowedError
BetaRBACGroupOrderLimitExceededError BetaRegionNotSupportedError BetaReportPageTooLargeError
BetaRequestBodyTimeoutError BetaScanFailedError BetaSettingsDocumentLimitExceededError
BetaSettingsHistoryLimitExceededError BetaSlackChannelSetUpSettingsRefusedError
BetaStorageAttachLimitReachedError BetaStorageNotApprovedError BetaStorageNotAttachableError
BetaStorageProfileStillRequiredError BetaStorageVerificationFailedError BetaTooManyReportGroupsError
BetaTranscriptsStorageRequiredError BetaUnsupportedCharsetError BetaUnsupportedRegionError
CMEKKeyDisabledError CMEKKeyNetworkBlockedError CannotInviteEmailsWithUnverifiedDomainsError
CannotRemoveLastMemberError ClaudeCodeKeyCreatorNotMemberError ClaudeCodeVersionTooOldError
CompactionBlockAmbiguousError CompactionBlockMisplacedError CompactionContentMismatchError
CompactionIncompleteTurnError CompactionNothingToSummarizeError CompactionSignatureInvalidError
CompactionTooManyToolReferencesError CompactionToolChangesMismatchError EmailDomainNotAllowedError
ExternalKeyInWorkspacePolicyError ExternalKeyValidationFailedError ExternalKeyValidationTimedOutError
FileNotDownloadableError ImageDimensionsTooLargeError InviteAlreadyExistsError KeyProfileMismatchError
OrgAPIKeyLimitExceededError OrgMemberLimitExceededError OrganizationOnHoldError
OrganizationTypeNotSupportedError ParentOrganizationRequiredError RBACGroupGrantsOwnerAccessError
RBACGroupOwnerAccessUnconfirmedError RequestBodyEncodingInvalidError RequestBodyEncodingUnsupportedError
StorageProfileMismatchError StorageQuotaExceededError ThreadAlreadyContinuedError
ThreadContinueInFlightError ThreadFingerprintMismatchError ThreadUnsupportedRequestError
ToolNameConflictError ToolReferenceUnresolvedError UserProfileClearedError UserProfileNotFoundError
UserProfileRequiredError WorkspaceAPIKeyLimitExceededError WorkspaceHumanReviewDisabledError
WorkspaceMemberLimitExceededError WorkspacePolicyViolationError
LinkedOrganizationBillingUnavailableError LinkedOrganizationSpendLimitReachedError
APIKeyRequesterUnconfirmedError BetaAPIKeyScopeMissingError BetaCannotSignOutManagedMemberError
BetaCannotSignOutMembershipAdminError BetaCannotSignOutOwnerError BetaCannotSignOutPrivilegedMemberError
BetaClaudeTagWritesNotEnabledError BetaComplianceConfigurationRestrictedError
BetaEnvironmentCreateDisabledError BetaEnvironmentUpdateDisabledError
BetaOrganizationLevelScopedAPIKeyRequiredError BetaSpendLimitsAdminAPIWritesNotEnabledError
SandboxEgressRestrictedError UserProfileBillingNotAuthorizedError UserProfileNotBillableError
BetaEnvironmentNotFoundError BetaRBACGroupManagedSettingsNotFoundError BetaRBACGroupNotFoundError
BetaSlackChannelSetUpEnvironmentNotFoundError FileExpiredError RBACRoleNotFoundError ThreadNotFoundError
BetaGCPProjectControlledByAnotherOrganizationError BetaPluginNameTakenError BetaScanPendingError
BetaSkillNameTakenError BetaSlackChannelSetUpSettingsConflictError BetaStorageAlreadyRegisteredError
BetaStorageChangedConcurrentlyError BetaStorageInUseError BetaWorkspaceChangedConcurrentlyError
ConcurrentMembershipChangeError ExternalKeyChangedError SkillReadBlockedUndecryptableError
StorageAttachedDuringArchiveError BetaHeartbeatPreconditionFailedError
RequestBodyTooLargeAfterDecodingError ContractSpendLimitReachedError EnforcedSpendLimitReachedError
RampLimitExceededError BetaAuthorizationCheckUnavailableError BetaRegistrationPendingError
CMEKContextUnavailableError CMEKKeyUnreachableError ChangeOutcomeUnknownError StorageNotReadyError
WorkspaceCreatedIncompleteError CompactionUnavailableError OrganizationURLFetchDisabledError
"""
BY_STATUS = frozenset(_BY_STATUS_NAMES.split())
"""Classes (Anthropic's per-endpoint errors) that only their HTTP status classes: ``other`` by name alone."""

_LOCAL_NAMES = """
OpenAIError AnthropicError APIError APIStatusError APIResponseValidationError APIWebhookValidationError
APIRemovedInV1 AgentFilePreparationError AgentFileStagingError AgentOutputParseError
AgentTurnResultError LengthFinishReasonError MissingDependencyError MutuallyExclusiveAuthError
StreamAlreadyConsumed SubjectTokenProviderError WebSocketConnectionClosedError WebSocketQueueFullError
AsyncOnSyncToolsetError BrowserStateError CredentialsError IdentityTokenFileError NestedCallError
RetryableError SyncOnAsyncToolsetError ToolsetClosedError ToolsetConfigError ToolsetContractError
ToolsetUsageError ToolsetsFixedError WorkloadIdentityError
"""
LOCAL = frozenset(_LOCAL_NAMES.split())
"""Base classes and the library's own errors (no provider answer, no status): ``other``."""

BEDROCK: dict[str, E] = {
    "AccessDeniedException": E.AUTH,
    "ConflictException": E.INVALID_REQUEST,
    "InternalServerException": E.SERVER_ERROR,
    "ModelErrorException": E.SERVER_ERROR,
    "ModelNotReadyException": E.THROTTLED,
    "ModelStreamErrorException": E.SERVER_ERROR,
    "ModelTimeoutException": E.TIMEOUT,
    "ResourceNotFoundException": E.INVALID_REQUEST,
    "ServiceQuotaExceededException": E.THROTTLED,
    "ServiceUnavailableException": E.SERVER_ERROR,
    "ThrottlingException": E.THROTTLED,
    "ValidationException": E.INVALID_REQUEST,
}
"""bedrock-runtime's error shapes."""

ANTHROPIC_TYPES: dict[str, E] = {
    "invalid_request_error": E.INVALID_REQUEST,
    "authentication_error": E.AUTH,
    "billing_error": E.INVALID_REQUEST,
    "permission_error": E.AUTH,
    "not_found_error": E.INVALID_REQUEST,
    "rate_limit_error": E.THROTTLED,
    "timeout_error": E.TIMEOUT,
    "api_error": E.SERVER_ERROR,
    "overloaded_error": E.SERVER_ERROR,
}
"""The ``type`` of Anthropic's error bodies (also in Anthropic-format chunks on Bedrock)."""


def _subclasses(cls: type) -> typing.Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _import_all(package: ModuleType) -> None:
    """Import every submodule, so that every exception class the SDK defines exists."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + ".", onerror=lambda _: None):
            with contextlib.suppress(ImportError):  # an optional extra (aiohttp, websockets, mcp) is missing
                importlib.import_module(module.name)


@functools.cache
def sdk_classes(package_name: str) -> tuple[type[BaseException], ...]:
    package = importlib.import_module(package_name)
    _import_all(package)
    base = package.OpenAIError if package_name == "openai" else package.AnthropicError
    found = {base, *_subclasses(base)}
    return tuple(sorted((c for c in found if not c.__name__.startswith("_")), key=lambda c: c.__name__))


def _status(cls: type) -> int | None:
    status = getattr(cls, "status_code", None)
    return status if isinstance(status, int) else None


def _mismatches(cls: type, provider: str) -> list[str]:
    name, status = cls.__name__, _status(cls)
    if name in BY_NAME:
        expected_alone, expected = BY_NAME[name], BY_NAME[name]
    elif name in BY_STATUS:
        assert status in STATUS, f"{name}: status {status} is not in STATUS"
        expected_alone, expected = E.OTHER, STATUS[status]
    else:
        expected_alone = expected = E.OTHER
    got = []
    for spelled in (name, f"{cls.__module__}.{cls.__qualname__}"):
        got.append((spelled, None, classify_error(spelled, None, provider), expected_alone))
        if status is not None:
            got.append((spelled, status, classify_error(spelled, status, provider), expected))
    return [f"{n} status={s}: {g} != {e}" for n, s, g, e in got if g != e]


@pytest.mark.parametrize("package_name", ["openai", "anthropic"])
def test_every_sdk_exception_class_is_classed_as_the_table_says(package_name: str) -> None:
    classes = sdk_classes(package_name)
    names = {cls.__name__ for cls in classes}
    uncovered = names - BY_NAME.keys() - BY_STATUS - LOCAL
    assert not uncovered, f"new {package_name} exception classes: add them to BY_NAME, BY_STATUS or LOCAL"
    assert len(classes) > 20 and "RateLimitError" in names  # the walk found the SDK's classes
    local_with_status = [c.__name__ for c in classes if c.__name__ in LOCAL and _status(c) is not None]
    assert local_with_status == []
    mismatches = [line for cls in classes for line in _mismatches(cls, package_name)]
    assert mismatches == []


def test_the_names_of_the_stainless_status_classes_agree_with_their_status() -> None:
    """The class a name gives is the class its status gives, wherever the SDK fixes the status."""
    for package_name in ("openai", "anthropic"):
        for cls in sdk_classes(package_name):
            status = _status(cls)
            if cls.__name__ in BY_NAME and status is not None:
                assert STATUS[status] == BY_NAME[cls.__name__], cls.__name__


@functools.cache
def bedrock_model() -> typing.Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("bedrock-runtime")


def test_every_bedrock_runtime_error_shape_is_classed() -> None:
    shapes = {shape.name: shape.metadata["error"]["httpStatusCode"] for shape in bedrock_model().error_shapes}
    assert set(shapes) == set(BEDROCK), "bedrock-runtime's error shapes changed: update BEDROCK"
    for name, status in shapes.items():
        expected = BEDROCK[name]
        # as named, as the SDK passes the error code (lower-cased), and as a span's qualified error.type
        for spelled in (name, name.lower(), f"botocore.errorfactory.{name}"):
            assert classify_error(spelled, None, "aws.bedrock") == expected, spelled
            assert classify_error(spelled, status, "aws.bedrock") == expected, spelled
            assert classify_error(spelled, status) == expected, spelled


def test_bedrock_stream_exception_events_are_classed_as_their_shapes() -> None:
    model = bedrock_model()
    members = {
        name: shape.name
        for operation in model.operation_names
        if (op := model.operation_model(operation)).has_event_stream_output
        for name, shape in op.get_event_stream_output().members.items()
        if shape.metadata.get("exception")
    }
    assert "throttlingException" in members
    for member, shape in members.items():
        assert classify_error(member, None, "aws.bedrock") == BEDROCK[shape], member


def test_every_anthropic_error_type_is_classed() -> None:
    import anthropic.types

    union = typing.get_args(anthropic.types.ErrorObject)[0]
    types = {typing.get_args(m.model_fields["type"].annotation)[0] for m in typing.get_args(union)}
    assert types == set(ANTHROPIC_TYPES), "Anthropic's error types changed: update ANTHROPIC_TYPES"
    for code, expected in ANTHROPIC_TYPES.items():
        assert classify_error(code, None, "anthropic") == expected, code
        assert classify_error(code, None, "aws.bedrock") == expected, code


@pytest.mark.parametrize(
    ("code", "expected"),
    [  # OpenAI error-body codes and types the SDK reads (a mid-stream error has no status)
        ("content_filter", E.CONTENT_FILTERED),
        ("rate_limit_exceeded", E.THROTTLED),
        ("insufficient_quota", E.THROTTLED),
        ("server_error", E.SERVER_ERROR),
        ("timeout", E.TIMEOUT),
        ("invalid_api_key", E.AUTH),
        ("invalid_request_error", E.INVALID_REQUEST),
        ("context_length_exceeded", E.INVALID_REQUEST),
    ],
)
def test_openai_error_codes(code: str, expected: E) -> None:
    assert classify_error(code, None, "openai") == expected


def test_what_the_name_does_not_say_the_status_does() -> None:
    assert classify_error(None, 429) == E.THROTTLED
    assert classify_error("APIStatusError", 502) == E.SERVER_ERROR
    assert classify_error("APIError", None, "openai") == E.OTHER  # the base class says nothing
    assert classify_error("Rate limit exceeded, please retry", None) == E.OTHER  # text is no class name
    assert classify_error("_OTHER", 503) == E.SERVER_ERROR  # OTel's fallback error.type
    assert classify_error("429", None) == E.THROTTLED  # OTel's error.type for HTTP: the status code
    assert classify_error("other", 503) == E.OTHER and classify_error("Timeout", None) == E.TIMEOUT
    assert classify_error("PermissionError", None) == E.OTHER  # Python's file error is no 403
    # Bedrock's 424 is a model failure; elsewhere a 4xx is the request's fault
    assert classify_error(None, 424, "aws.bedrock") == E.SERVER_ERROR
    assert classify_error(None, 424, "openai") == E.INVALID_REQUEST


# --- the same error, the same class, however it arrives ------------------------------------------------

DISAGREED = [  # the names the normaliser and the importers used to class differently
    ("ServiceQuotaExceededException", E.THROTTLED),
    ("ModelNotReadyException", E.THROTTLED),
    ("UnprocessableEntityError", E.INVALID_REQUEST),
    ("ConflictError", E.INVALID_REQUEST),
    ("APIUserAbortError", E.CANCELLED),
    ("api_error", E.SERVER_ERROR),
    ("permission_error", E.AUTH),
    ("429", E.THROTTLED),
    ("RateLimitError", E.THROTTLED),
    ("WeirdError", E.OTHER),
]


def _over_otlp(error_type: str, provider: str) -> str | None:
    attrs = {"gen_ai.request.model": "m", "gen_ai.provider.name": provider, "error.type": error_type}
    call = to_call(attrs, trace_id="a" * 32, span_id="b" * 16, parent_span_id=None, name="chat m",
                   start_ns=1, end_ns=2, status_code=2)  # fmt: skip
    return call.error_class


def _from_jsonl(error_type: str, provider: str) -> str | None:
    line = json.dumps({"model": "m", "provider": provider, "error": error_type})
    return jsonl.parse_record(line, "key", dt.datetime(2025, 1, 1)).error_class


@pytest.mark.parametrize(("error_type", "expected"), DISAGREED)
@pytest.mark.parametrize("provider", ["anthropic", "aws.bedrock", "openai"])
def test_the_same_error_gets_the_same_class_however_it_arrives(
    error_type: str, expected: E, provider: str
) -> None:
    assert _over_otlp(error_type, provider) == expected
    assert _from_jsonl(error_type, provider) == expected


def test_a_bedrock_log_and_a_bedrock_span_agree() -> None:
    for code, expected in BEDROCK.items():
        record = {"schemaType": "ModelInvocationLog", "timestamp": "2025-01-01T00:00:00Z", "errorCode": code}
        record |= {"modelId": "anthropic.claude-3-haiku", "operation": "Converse", "requestId": code}
        call = bedrock_logs.record_to_call(record, "key")
        assert call.error_class == expected == _over_otlp(code, "aws.bedrock"), code


@pytest.mark.parametrize("reason", sorted(FILTERED_STOP_REASONS))
def test_every_content_filter_stop_reason_marks_a_span_filtered(reason: str) -> None:
    attrs = {"gen_ai.request.model": "m", "gen_ai.response.finish_reasons": [reason]}
    call = to_call(attrs, trace_id="a" * 32, span_id="b" * 16, parent_span_id=None, name="chat m",
                   start_ns=1, end_ns=2)  # fmt: skip
    assert (call.status, call.error_class) == ("ok", "content_filtered")
