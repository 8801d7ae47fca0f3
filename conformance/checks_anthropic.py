"""Anthropic Messages API bodies, judged by the official `anthropic` SDK's own types.

The pinned SDK describes API version 2026-10-21 (the version it sends). Kinds:

- "request": a request body, strictly against `MessageCreateParamsStreaming` when
  `"stream": true`, else `MessageCreateParamsNonStreaming`; and every custom tool's
  `input_schema` must be an object schema (`"type": "object"`), which the API requires
  and the SDK's type does not check (it accepts any dict).
- "request_2023_06_01": a request body for API version 2023-06-01, which also accepts
  `temperature`, `top_p` and `top_k` (version 2026-10-21 removed them, so the SDK's
  types no longer declare them). The first two must be numbers in 0..=1, `top_k` a
  non-negative integer; the rest is checked as "request".
- "vertex_request": a Vertex AI `rawPredict` / `streamRawPredict` body, which the SDK's
  Vertex client makes from a Messages request by taking `model` out (it goes in the
  URL) and setting `anthropic_version`: so no `model`, an `anthropic_version` string, and
  the rest, with the model put back, as "request_2023_06_01" (Vertex takes `temperature`
  and `top_p`).
- "response": a non-streaming response body, strictly against `anthropic.types.Message`.
- "event": the data of one stream event: `{"type": "ping"}` exactly (the SDK skips it
  by name), an `error` event strictly against `ErrorResponse`, anything else strictly
  against the `RawMessageStreamEvent` union.
- "error": an error response body, strictly against `ErrorResponse`.
- "models": a `GET /v1/models` page, strictly against `SyncPage[ModelInfo]`.
"""

from anthropic.pagination import SyncPage
from anthropic.types import Message, ModelInfo, RawMessageStreamEvent
from anthropic.types.message_create_params import (
    MessageCreateParamsNonStreaming,
    MessageCreateParamsStreaming,
)
from anthropic.types.shared import ErrorResponse

import strict

def _unit_interval(value):
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 <= value <= 1


def _count(value):
    return not isinstance(value, bool) and isinstance(value, int) and value >= 0


REMOVED_IN_2026_10_21 = {"temperature": _unit_interval, "top_p": _unit_interval, "top_k": _count}


def request(body):
    if not isinstance(body, dict):
        raise strict.Invalid("a request body is a JSON object")
    streaming = body.get("stream") is True
    params = MessageCreateParamsStreaming if streaming else MessageCreateParamsNonStreaming
    strict.validate_typeddict(params, body)
    for index, tool in enumerate(body.get("tools") or []):
        if isinstance(tool, dict) and "input_schema" in tool:
            schema = tool["input_schema"]
            if not isinstance(schema, dict) or schema.get("type") != "object":
                raise strict.Invalid(f"$.tools[{index}].input_schema: the root must be an object schema")


def request_2023_06_01(body):
    if not isinstance(body, dict):
        raise strict.Invalid("a request body is a JSON object")
    rest = dict(body)
    for key, valid in REMOVED_IN_2026_10_21.items():
        if key in rest and not valid(rest.pop(key)):
            raise strict.Invalid(f"$.{key}: out of range or of the wrong type")
    request(rest)


def vertex_request(body):
    if not isinstance(body, dict):
        raise strict.Invalid("a request body is a JSON object")
    if "model" in body:
        raise strict.Invalid("$.model: Vertex AI takes the model in the URL, not the body")
    rest = dict(body)
    version = rest.pop("anthropic_version", None)
    if not isinstance(version, str) or not version:
        raise strict.Invalid("$.anthropic_version: required, a version string")
    rest["model"] = "claude-sonnet-4-5@20250929"
    request_2023_06_01(rest)


def response(body):
    strict.validate_model(Message, body)


def event(body):
    if isinstance(body, dict) and body.get("type") == "ping":
        if body != {"type": "ping"}:
            raise strict.Invalid("a ping event carries nothing but its type")
        return
    if isinstance(body, dict) and body.get("type") == "error":
        strict.validate_model(ErrorResponse, body)
        return
    # validate_typeddict is generic: a TypeAdapter over the type, every lazy iterator
    # consumed, then the recursive unknown-key check, here over the union's members.
    strict.validate_typeddict(RawMessageStreamEvent, body)


def error(body):
    strict.validate_model(ErrorResponse, body)


def models(body):
    strict.validate_model(SyncPage[ModelInfo], body)


KINDS = {
    "request": request,
    "request_2023_06_01": request_2023_06_01,
    "vertex_request": vertex_request,
    "response": response,
    "event": event,
    "error": error,
    "models": models,
}
