"""Closed-loop load through LiteLLM's Router (the library, in process, async).

The same scenario as `bench/load` drives for routewise: one router with two OpenAI-format
deployments against the local upstream, a primary and its fallback, the same request and
the same closed loop (a fixed number of requests, a fixed number in flight). Prints one JSON
line with the same fields as `routewise-load`.

    python litellm_load.py --base-url http://127.0.0.1:18080/v1 --concurrency 64 \
        --requests 5000 [--fallback-base-url URL] [--warmup 100] [--stream] [--scenario NAME]
"""

import argparse
import importlib.metadata
import asyncio
import json
import math
import os
import time
import urllib.request

# LiteLLM fetches its model price list from the internet at import unless told not to.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402  (the environment variable must be set first)
from litellm import Router  # noqa: E402

PROMPT = [{"role": "user", "content": "hello"}]
API_KEY = "sk-bench"


def make_router(base_url: str, fallback_base_url: str) -> Router:
    litellm.suppress_debug_info = True
    deployment = lambda name, url: {  # noqa: E731
        "model_name": name,
        "litellm_params": {"model": "openai/bench-model", "api_base": url, "api_key": API_KEY},
    }
    return Router(
        model_list=[deployment("primary", base_url), deployment("fallback", fallback_base_url)],
        fallbacks=[{"primary": ["fallback"]}],
        # routewise does not retry a failed target either: it moves to the next one.
        num_retries=0,
    )


async def one_call(router: Router, stream: bool) -> dict:
    started = time.perf_counter()
    first_text = None
    try:
        if stream:
            response = await router.acompletion(
                model="primary",
                messages=PROMPT,
                stream=True,
                stream_options={"include_usage": True},
            )
            async for chunk in response:
                if first_text is None and chunk.choices and chunk.choices[0].delta.content:
                    first_text = time.perf_counter() - started
        else:
            await router.acompletion(model="primary", messages=PROMPT)
        return {"ok": True, "latency": time.perf_counter() - started, "first": first_text}
    except Exception as error:  # a failed request is counted, not fatal
        return {"ok": False, "latency": time.perf_counter() - started, "error": repr(error)[:300]}


async def closed_loop(router: Router, stream: bool, concurrency: int, count: int):
    outcomes = []
    issued = 0

    async def worker():
        nonlocal issued
        while issued < count:
            issued += 1
            outcomes.append(await one_call(router, stream))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    return outcomes, time.perf_counter() - started


def percentile(samples, q):
    if not samples:
        return 0.0
    samples = sorted(samples)
    rank = min(max(math.ceil(len(samples) * q), 1), len(samples))
    return samples[rank - 1]


def upstream_stats(base_url: str):
    scheme, _, rest = base_url.partition("://")
    host = rest.split("/", 1)[0]
    with urllib.request.urlopen(f"{scheme}://{host}/stats") as response:
        stats = json.load(response)
    return stats["requests"], stats["cpu_seconds"]


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", default="http://127.0.0.1:18080/v1")
    parser.add_argument("--fallback-base-url")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--scenario", default="healthy")
    args = parser.parse_args()

    router = make_router(args.base_url, args.fallback_base_url or args.base_url)
    await closed_loop(router, args.stream, args.concurrency, args.warmup)

    served_before, upstream_cpu_before = upstream_stats(args.base_url)
    cpu_before = time.process_time()
    outcomes, wall = await closed_loop(router, args.stream, args.concurrency, args.requests)
    client_cpu = time.process_time() - cpu_before
    served_after, upstream_cpu_after = upstream_stats(args.base_url)

    ok = [o for o in outcomes if o["ok"]]
    latencies = [o["latency"] for o in ok]
    firsts = [o["first"] for o in ok if o.get("first") is not None]
    served = served_after - served_before
    upstream_cpu = max(upstream_cpu_after - upstream_cpu_before, 0.0)
    errors = [o["error"] for o in outcomes if not o["ok"]]
    print(
        json.dumps(
            {
                "client": "litellm",
                "scenario": args.scenario,
                "stream": args.stream,
                "concurrency": args.concurrency,
                "requests": len(outcomes),
                "success_rate": len(ok) / len(outcomes),
                "seconds": wall,
                "throughput": len(ok) / wall,
                "p50_us": percentile(latencies, 0.50) * 1e6,
                "p99_us": percentile(latencies, 0.99) * 1e6,
                "first_text_p50_us": percentile(firsts, 0.50) * 1e6 if args.stream else None,
                "first_text_p99_us": percentile(firsts, 0.99) * 1e6 if args.stream else None,
                "client_cpu_us_per_request": client_cpu * 1e6 / len(outcomes),
                "upstream_requests_per_request": served / len(outcomes),
                "upstream_cpu_share": upstream_cpu / wall,
                "upstream_ceiling_per_core": served / upstream_cpu if upstream_cpu else None,
                "first_error": errors[0] if errors else None,
                "version": importlib.metadata.version("litellm"),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
