#!/usr/bin/env python3
"""Builds the committed seed corpus (fuzz/corpus/<target>/) from the wire-format
fixtures in tests/fixtures/, in the input layouts of fuzz/src/lib.rs.

Run it again after adding fixtures: `python3 fuzz/make_corpus.py`. Files are named by
fixture, so reruns are stable and a fuzz run's own finds (named by hash) sit beside them.
"""

import json
import pathlib
import struct
import zlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CORPUS = ROOT / "fuzz" / "corpus"

# Must match fuzz/src/lib.rs.
KEY = "sk-fuzz-key-5f0c2a9d7e4b1836"
HEADER_SECRET = "hdr-fuzz-secret-93ab71c0"
STATUSES = [400, 401, 403, 404, 408, 413, 422, 429, 500, 502, 503, 529]

# Fixture name fragments to the status their provider answers with.
STATUS_BY_NAME = [
    ("rate_limit", 429), ("resource_exhausted", 429), ("insufficient_quota", 429),
    ("server_error", 500), ("api_error", 500), ("internal", 500),
    ("overloaded", 529), ("unavailable", 503),
    ("invalid_api_key", 401), ("authentication", 401), ("unauthenticated", 401),
    ("api_key_invalid", 400), ("billing", 403), ("permission", 403), ("forbidden", 403),
    ("not_found", 404), ("timeout", 408), ("deadline", 408), ("too_large", 413),
]


def status_of(name):
    for fragment, status in STATUS_BY_NAME:
        if fragment in name:
            return status
    return 400


def read(path):
    return path.read_bytes().replace(b"$API_KEY", KEY.encode())


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"seed-{name}").write_bytes(data)


def response_inputs(provider, bodies, errors):
    target = f"{provider}_response"
    for path in bodies:
        write(target, path.stem, bytes([0, 0]) + read(path))
        write(target, path.stem + "-json-mode", bytes([4, 0]) + read(path))
    for path in errors:
        status = STATUSES.index(status_of(path.stem))
        write(target, path.stem, bytes([1, status]) + read(path))
        retry = b"2\n" if "rate" in path.stem or "exhausted" in path.stem else b"Wed, 21 Oct 2015 07:28:00 GMT\n"
        write(target, path.stem + "-retry-after", bytes([3, status]) + retry + read(path))
    echo = f"upstream rejected key {KEY} and token {HEADER_SECRET}".encode()
    write(target, "echoed-secrets", bytes([1, STATUSES.index(401)]) + echo)


def stream_inputs(provider, streams):
    for path in streams:
        for mode in (0, 7, 0x80 | 63):
            write(f"{provider}_stream", f"{path.stem}-{mode}", bytes([mode]) + read(path))
        write("sse", f"{provider}-{path.stem}", bytes([17]) + read(path))


def event_stream_message(headers, payload):
    """One AWS event-stream message: prelude (lengths and their CRC32), string headers,
    payload, and the CRC32 of everything before it."""
    encoded = b"".join(
        bytes([len(name)]) + name.encode() + bytes([7]) + struct.pack(">H", len(value.encode())) + value.encode()
        for name, value in headers
    )
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def bedrock_inputs():
    folder = FIXTURES / "bedrock"
    bodies = sorted(folder.glob("converse_*.json"))
    errors = []
    for name, status, body in [
        ("error_throttling", 429, {"__type": "ThrottlingException", "message": "Too many requests"}),
        ("error_validation_too_long", 400, {"__type": "com.amazon.coral.validate#ValidationException", "message": "Input is too long for requested model."}),
        ("error_access_denied", 403, {"__type": "AccessDeniedException", "Message": f"key {KEY} denied"}),
        ("error_unavailable", 503, {"message": "Service unavailable"}),
    ]:
        write("bedrock_response", name, bytes([1, STATUSES.index(status)]) + json.dumps(body).encode())
    response_inputs("bedrock", bodies, errors)
    for path in sorted(folder.glob("stream_*.json")):
        events = json.loads(path.read_text())
        body = b"".join(
            event_stream_message(
                [(":message-type", "event"), (":event-type", kind), (":content-type", "application/json")],
                json.dumps(payload).encode(),
            )
            for kind, payload in events
        )
        for mode in (0, 7, 0x80 | 63, 0x80 | 0x40 | 5):
            write("bedrock_stream", f"{path.stem}-{mode}", bytes([mode]) + body)
    exception = event_stream_message(
        [(":message-type", "exception"), (":exception-type", "throttlingException"), (":content-type", "application/json")],
        json.dumps({"message": f"slow down {KEY}"}).encode(),
    )
    write("bedrock_stream", "exception", bytes([3]) + exception)


def main():
    for provider in ("openai", "anthropic", "gemini"):
        folder = FIXTURES / provider
        jsons = sorted(folder.glob("*.json")) + sorted(folder.glob("errors/*.json"))
        errors = [p for p in jsons if p.stem.startswith("error") or p.parent.name == "errors"]
        bodies = [p for p in jsons if p not in errors and not p.stem.startswith("models")]
        response_inputs(provider, bodies, errors)
        stream_inputs(provider, sorted(folder.glob("*.sse")))
    bedrock_inputs()
    for target in sorted(CORPUS.iterdir()):
        print(f"{target.name}: {len(list(target.iterdir()))} seeds")


if __name__ == "__main__":
    main()
