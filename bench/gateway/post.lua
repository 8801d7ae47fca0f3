-- wrk request for the gateway benchmark: one non-streaming chat completion.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench-gateway"
wrk.body = '{"model":"bench-llm","messages":[{"role":"user","content":"Say hello in one short sentence."}]}'
