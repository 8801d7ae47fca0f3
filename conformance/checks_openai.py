"""OpenAI Chat Completions bodies, judged by the `openai` SDK's own types.

request:    a request body, as `CompletionCreateParamsStreaming` when it says `"stream": true`,
            else as `CompletionCreateParamsNonStreaming` (strict: lazy iterables consumed,
            unknown keys rejected at every level).
response:   a `ChatCompletion`.
chunk:      one `ChatCompletionChunk` of a stream (the data of one event, not `[DONE]`).
error:      an error body, `{"error": ErrorObject}`.
model_list: the body of `GET /models`, a list of `Model`s.
"""

from openai.types import ErrorObject, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat.completion_create_params import (
    CompletionCreateParamsNonStreaming,
    CompletionCreateParamsStreaming,
)

import strict


def _only_keys(body, allowed, what):
    if not isinstance(body, dict):
        raise strict.Invalid(f"{what} must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise strict.Invalid(f"{what}: unknown keys {unknown}")
    missing = sorted(set(allowed) - set(body))
    if missing:
        raise strict.Invalid(f"{what}: missing keys {missing}")


def check_request(body):
    if isinstance(body, dict) and body.get("stream") is True:
        strict.validate_typeddict(CompletionCreateParamsStreaming, body)
    else:
        strict.validate_typeddict(CompletionCreateParamsNonStreaming, body)


def check_response(body):
    strict.validate_model(ChatCompletion, body)


def check_chunk(body):
    strict.validate_model(ChatCompletionChunk, body)


def check_error(body):
    _only_keys(body, ["error"], "error body")
    strict.validate_model(ErrorObject, body["error"])


def check_model_list(body):
    _only_keys(body, ["object", "data"], "model list")
    if body["object"] != "list" or not isinstance(body["data"], list):
        raise strict.Invalid("model list must be {\"object\": \"list\", \"data\": [...]}")
    for model in body["data"]:
        strict.validate_model(Model, model)


KINDS = {
    "request": check_request,
    "response": check_response,
    "chunk": check_chunk,
    "error": check_error,
    "model_list": check_model_list,
}
