"""Drives routewise-gateway with the official `openai` SDK, as an application would.

Reads GATEWAY_URL and GATEWAY_KEY; prints one JSON object with what each call saw.
Every call is made with max_retries=0, so a status the gateway returns is the one seen.
"""

import json
import os
import sys

import openai

url, key = os.environ["GATEWAY_URL"], os.environ["GATEWAY_KEY"]
client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
hello = [{"role": "user", "content": "Hello"}]
out = {}

raw = client.chat.completions.with_raw_response.create(model="primary-llm", messages=hello)
completion = raw.parse()
out["plain"] = {
    "content": completion.choices[0].message.content,
    "finish_reason": completion.choices[0].finish_reason,
    "total_tokens": completion.usage.total_tokens,
    "account": raw.headers.get("x-routewise-account"),
    "attempts": raw.headers.get("x-routewise-attempts"),
}

stream = client.chat.completions.create(
    model="primary-llm", messages=hello, stream=True, stream_options={"include_usage": True}
)
text, finish, usage = "", None, None
for chunk in stream:
    if chunk.choices:
        text += chunk.choices[0].delta.content or ""
        finish = chunk.choices[0].finish_reason or finish
    if chunk.usage:
        usage = chunk.usage.total_tokens
out["stream"] = {"content": text, "finish_reason": finish, "total_tokens": usage}

tools = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}]
called = client.chat.completions.create(model="tools-llm", messages=hello, tools=tools)
call = called.choices[0].message.tool_calls[0]
out["tools"] = {
    "finish_reason": called.choices[0].finish_reason,
    "name": call.function.name,
    "arguments": json.loads(call.function.arguments),
}

calls = {}
for chunk in client.chat.completions.create(model="tools-llm", messages=hello, tools=tools, stream=True):
    for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
        entry = calls.setdefault(delta.index, {"name": "", "arguments": ""})
        entry["name"] += (delta.function.name or "") if delta.function else ""
        entry["arguments"] += (delta.function.arguments or "") if delta.function else ""
out["tools_stream"] = {"name": calls[0]["name"], "arguments": json.loads(calls[0]["arguments"])}

answer = client.chat.completions.create(
    model="json-llm", messages=hello, response_format={"type": "json_object"}
)
out["json_mode"] = json.loads(answer.choices[0].message.content)


def status_of(call):
    try:
        call()
    except openai.APIStatusError as error:
        return {"status": error.status_code, "class": type(error).__name__, "message": error.message}
    return None


out["wrong_key"] = status_of(
    lambda: openai.OpenAI(base_url=url + "/v1", api_key="sk-not-a-gateway-key", max_retries=0)
    .chat.completions.create(model="primary-llm", messages=hello)
)
out["unknown_model"] = status_of(lambda: client.chat.completions.create(model="gpt-9", messages=hello))
out["oversized"] = status_of(
    lambda: client.chat.completions.create(
        model="primary-llm", messages=[{"role": "user", "content": "x" * 200_000}]
    )
)
out["models"] = [m.id for m in client.models.list()]

# A client that goes away mid-stream: read one chunk, then close the connection.
slow = client.chat.completions.create(model="slow-llm", messages=hello, stream=True)
next(iter(slow))
slow.close()
out["disconnected"] = True

json.dump(out, sys.stdout)
