"""Drives routewise-gateway with the official `anthropic` SDK, as a coding agent would.

Reads GATEWAY_URL and GATEWAY_KEY; prints one JSON object with what each call saw.
"""

import json
import os
import sys

import anthropic

url, key = os.environ["GATEWAY_URL"], os.environ["GATEWAY_KEY"]
client = anthropic.Anthropic(base_url=url, api_key=key, max_retries=0)
hello = [{"role": "user", "content": "Hello"}]
out = {}

raw = client.messages.with_raw_response.create(model="primary-llm", max_tokens=256, messages=hello)
message = raw.parse()
out["plain"] = {
    "text": message.content[0].text,
    "stop_reason": message.stop_reason,
    "output_tokens": message.usage.output_tokens,
    "attempts": raw.headers.get("x-routewise-attempts"),
}

with client.messages.stream(model="primary-llm", max_tokens=256, messages=hello) as stream:
    text = "".join(stream.text_stream)
    final = stream.get_final_message()
out["stream"] = {"text": text, "stop_reason": final.stop_reason}

tools = [{
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}]
used = client.messages.create(model="tools-llm", max_tokens=256, messages=hello, tools=tools)
block = next(b for b in used.content if b.type == "tool_use")
out["tools"] = {"stop_reason": used.stop_reason, "name": block.name, "input": block.input}

with client.messages.stream(model="tools-llm", max_tokens=256, messages=hello, tools=tools) as stream:
    final = stream.get_final_message()
block = next(b for b in final.content if b.type == "tool_use")
out["tools_stream"] = {"name": block.name, "input": block.input}

# A tool result sent back, as an agent's next turn does.
follow_up = client.messages.create(
    model="primary-llm",
    max_tokens=256,
    tools=tools,
    messages=hello
    + [
        {"role": "assistant", "content": [{"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny"}]},
    ],
)
out["follow_up"] = follow_up.content[0].text


def status_of(call):
    try:
        call()
    except anthropic.APIStatusError as error:
        return {"status": error.status_code, "class": type(error).__name__, "message": error.message}
    return None


out["wrong_key"] = status_of(
    lambda: anthropic.Anthropic(base_url=url, api_key="sk-ant-provider-key", max_retries=0)
    .messages.create(model="primary-llm", max_tokens=16, messages=hello)
)
out["unknown_model"] = status_of(
    lambda: client.messages.create(model="claude-opus-9", max_tokens=16, messages=hello)
)

json.dump(out, sys.stdout)
