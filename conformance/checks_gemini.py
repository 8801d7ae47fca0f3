"""Gemini REST bodies (v1beta, camelCase) against the `google-genai` SDK's own types.

The SDK's pydantic models accept the wire format's camelCase and forbid unknown keys, so
`strict.validate_model` on each top-level field of a request, and on a whole
`GenerateContentResponse`, is a real check (check.py turns the SDK's enum warnings into
errors). What the SDK types leave open but the API enforces is checked here by hand:
the top-level keys of the request, `contents[].role`, one data field per part, which role
may carry function calls and responses, and a few documented field pairings. Error bodies
have no SDK type; they are checked as a `google.rpc.Status`, and fed to the SDK's own
`APIError` to prove it reads the status and message.
"""

import re

from google.genai import errors, models, types

from strict import Invalid, validate_model

# The request body of models.generateContent / streamGenerateContent (the model is in the
# URL). These are the keys the SDK's `_GenerateContentParameters_to_mldev` and
# `_GenerateContentConfig_to_mldev` write for the Gemini Developer API.
REQUEST_FIELDS = {
    "contents": ("list", types.Content),
    "systemInstruction": ("one", types.Content),
    "tools": ("list", types.Tool),
    "toolConfig": ("one", types.ToolConfig),
    "safetySettings": ("list", types.SafetySetting),
    "generationConfig": ("one", types.GenerationConfig),
    "cachedContent": ("str", None),
}

# A Part is a `oneof data` in the API's proto: exactly one of these per part. The other
# keys (thought, thoughtSignature, videoMetadata, partMetadata, mediaResolution) describe
# the data.
PART_DATA = {
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
    "toolCall",
    "toolResponse",
}

ROLES = {"user", "model"}

# FunctionDeclaration.name: letters, digits, underscores, colons, dots and dashes, at most
# 128 characters, not starting with a digit.
FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")

# google.rpc.Code names and the HTTP status each maps to (google/rpc/code.proto).
RPC_CODES = {
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
}

# Keys of the google.rpc error details Gemini sends (google/rpc/error_details.proto).
DETAIL_KEYS = {
    "type.googleapis.com/google.rpc.ErrorInfo": {"reason", "domain", "metadata"},
    "type.googleapis.com/google.rpc.RetryInfo": {"retryDelay"},
    "type.googleapis.com/google.rpc.QuotaFailure": {"violations"},
    "type.googleapis.com/google.rpc.Help": {"links"},
    "type.googleapis.com/google.rpc.LocalizedMessage": {"locale", "message"},
    "type.googleapis.com/google.rpc.BadRequest": {"fieldViolations"},
}

DURATION = re.compile(r"^\d+(\.\d{1,9})?s$")


def check_request(body):
    if not isinstance(body, dict):
        raise Invalid("$: request body must be an object")
    unknown = sorted(set(body) - set(REQUEST_FIELDS))
    if unknown:
        raise Invalid(f"$: unknown top-level keys {unknown}")
    if "contents" not in body:
        raise Invalid("$.contents: required")
    for key, value in body.items():
        shape, model = REQUEST_FIELDS[key]
        if shape == "list":
            if not isinstance(value, list):
                raise Invalid(f"$.{key}: must be a list")
            for index, item in enumerate(value):
                _validate(model, item, f"$.{key}[{index}]")
        elif shape == "one":
            _validate(model, value, f"$.{key}")
        elif not isinstance(value, str):
            raise Invalid(f"$.{key}: must be a string")
    for index, content in enumerate(body["contents"]):
        _check_content(content, f"$.contents[{index}]")
    if "systemInstruction" in body:
        _check_parts(body["systemInstruction"], "$.systemInstruction")
        for index, part in enumerate(body["systemInstruction"]["parts"]):
            if set(part) - {"text"}:
                raise Invalid(f"$.systemInstruction.parts[{index}]: only text is allowed")
    for index, tool in enumerate(body.get("tools", [])):
        _check_tool(tool, f"$.tools[{index}]")
    if "toolConfig" in body:
        _check_tool_config(body["toolConfig"])
    if "generationConfig" in body:
        _check_generation_config(body["generationConfig"])


def _validate(model, value, path):
    try:
        validate_model(model, value)
    except Invalid as err:
        raise Invalid(f"{path}: {err}") from None


def _check_content(content, path):
    role = content.get("role")
    if role not in ROLES:
        raise Invalid(f"{path}.role: must be one of {sorted(ROLES)}, got {role!r}")
    _check_parts(content, path)
    for index, part in enumerate(content["parts"]):
        if "functionCall" in part and role != "model":
            raise Invalid(f"{path}.parts[{index}]: functionCall belongs in a `model` turn")
        if "functionResponse" in part and role != "user":
            raise Invalid(f"{path}.parts[{index}]: functionResponse belongs in a `user` turn")


def _check_parts(content, path):
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise Invalid(f"{path}.parts: must be a non-empty list")
    for index, part in enumerate(parts):
        data = sorted(PART_DATA & set(part))
        if len(data) != 1:
            raise Invalid(f"{path}.parts[{index}]: needs exactly one data field, has {data}")


def _check_tool(tool, path):
    for index, declaration in enumerate(tool.get("functionDeclarations", [])):
        where = f"{path}.functionDeclarations[{index}]"
        if not FUNCTION_NAME.match(declaration.get("name", "")):
            raise Invalid(f"{where}.name: {declaration.get('name')!r} is not a valid function name")
        if "parameters" in declaration and "parametersJsonSchema" in declaration:
            raise Invalid(f"{where}: parameters and parametersJsonSchema are exclusive")


def _check_tool_config(config):
    calling = config.get("functionCallingConfig", {})
    if "allowedFunctionNames" in calling and calling.get("mode") not in ("ANY", "VALIDATED"):
        raise Invalid("$.toolConfig: allowedFunctionNames needs mode ANY or VALIDATED")


def _check_generation_config(config):
    schemas = [key for key in ("responseSchema", "responseJsonSchema") if key in config]
    if len(schemas) > 1:
        raise Invalid("$.generationConfig: responseSchema and responseJsonSchema are exclusive")
    if schemas and config.get("responseMimeType") != "application/json":
        raise Invalid(f"$.generationConfig.{schemas[0]}: needs responseMimeType application/json")


def check_response(body):
    validate_model(types.GenerateContentResponse, body)


def check_error(body):
    if not isinstance(body, dict) or set(body) != {"error"}:
        raise Invalid("$: an error body is exactly {\"error\": {...}}")
    error = body["error"]
    unknown = sorted(set(error) - {"code", "message", "status", "details"})
    if unknown:
        raise Invalid(f"$.error: unknown keys {unknown}")
    code, status, message = error.get("code"), error.get("status"), error.get("message")
    if status not in RPC_CODES:
        raise Invalid(f"$.error.status: {status!r} is not a google.rpc.Code")
    if code != RPC_CODES[status]:
        raise Invalid(f"$.error.code: {status} is HTTP {RPC_CODES[status]}, not {code!r}")
    if not isinstance(message, str) or not message:
        raise Invalid("$.error.message: must be a non-empty string")
    for index, detail in enumerate(error.get("details", [])):
        kind = detail.get("@type")
        if kind not in DETAIL_KEYS:
            raise Invalid(f"$.error.details[{index}]: unknown @type {kind!r}")
        extra = sorted(set(detail) - DETAIL_KEYS[kind] - {"@type"})
        if extra:
            raise Invalid(f"$.error.details[{index}]: unknown keys {extra} for {kind}")
        if "retryDelay" in detail and not DURATION.match(detail["retryDelay"]):
            raise Invalid(f"$.error.details[{index}].retryDelay: not a proto Duration")
    parsed = errors.APIError(code, body)
    if parsed.status != status or parsed.message != message:
        raise Invalid("the SDK's APIError does not read this body's status and message")


# models.list (the health check): the REST `Model` fields. The SDK's `types.Model` renames
# some (supportedGenerationMethods is supported_actions), so the body goes through the SDK's
# own parsing path (its REST-to-type converter, then `_from_response`), which drops keys it
# does not know: unknown keys are rejected here first.
MODEL_FIELDS = {
    "name",
    "baseModelId",
    "version",
    "displayName",
    "description",
    "inputTokenLimit",
    "outputTokenLimit",
    "supportedGenerationMethods",
    "thinking",
    "temperature",
    "maxTemperature",
    "topP",
    "topK",
}


def check_models(body):
    unknown = sorted(set(body) - {"models", "nextPageToken"})
    if unknown:
        raise Invalid(f"$: unknown keys {unknown}")
    for index, model in enumerate(body.get("models", [])):
        extra = sorted(set(model) - MODEL_FIELDS)
        if extra:
            raise Invalid(f"$.models[{index}]: unknown keys {extra}")
    converted = models._ListModelsResponse_from_mldev(body)
    types.ListModelsResponse._from_response(response=converted, kwargs={})


KINDS = {
    "request": check_request,
    "response": check_response,
    "error": check_error,
    "models": check_models,
}
