"""Turns the comparison's results.jsonl into markdown tables and a chart.

    python report.py results.jsonl tables.md chart.png
"""

import json
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

CLIENTS = ["raw", "routewise", "routewise-untimed", "genai", "litellm"]
LABELS = {
    "raw": "raw reqwest",
    "routewise": "routewise",
    "routewise-untimed": "routewise, adapter timers off",
    "genai": "genai",
    "litellm": "LiteLLM Router",
}


KEY = ("client", "stream", "concurrency", "scenario")


def load(path):
    """The runs, with repeated rounds of one configuration merged into their medians."""
    with open(path) as f:
        runs = [json.loads(line) for line in f if line.strip()]
    groups = {}
    for run in runs:
        run.setdefault("scenario", "healthy")
        groups.setdefault(tuple(run[k] for k in KEY), []).append(run)
    merged = []
    for rounds in groups.values():
        run = dict(rounds[0])
        for field, value in rounds[0].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and field not in KEY:
                values = [r[field] for r in rounds if r.get(field) is not None]
                run[field] = statistics.median(values) if values else None
        run["rounds"] = len(rounds)
        merged.append(run)
    return merged


def pick(runs, client, concurrency, stream=False, scenario="healthy"):
    for run in runs:
        if (
            run["client"] == client
            and run["concurrency"] == concurrency
            and bool(run["stream"]) == stream
            and run.get("scenario", "healthy") == scenario
        ):
            return run
    return None


def ratio(a, b):
    return f"{a / b:.3f}" if a and b else "n/a"


def times(a, b):
    """a / b, and how many times b is a."""
    return f"{a / b:.4f} (routewise ×{b / a:,.0f})" if a and b else "n/a"


def us(value):
    return f"{value:,.0f}" if value is not None else "n/a"


def non_streaming_table(runs, concurrencies):
    lines = [
        "| concurrency | client | throughput (req/s) | p50 (µs) | p99 (µs) | client CPU per request (µs) | upstream CPU share |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in concurrencies:
        for client in CLIENTS:
            run = pick(runs, client, c)
            if run:
                lines.append(
                    f"| {c} | {LABELS[client]} | {run['throughput']:,.0f} | {us(run['p50_us'])} | "
                    f"{us(run['p99_us'])} | {run['client_cpu_us_per_request']:.1f} | "
                    f"{run['upstream_cpu_share']:.0%} |"
                )
    return lines


def ratio_table(runs, concurrencies):
    lines = [
        "| concurrency | routewise / raw: throughput | routewise / raw: p50 | routewise − raw: p50 (µs) "
        "| routewise / raw: client CPU per request | timers off / raw: throughput | timers off / raw: p50 "
        "| timers off − raw: p50 (µs) | routewise / genai: throughput | routewise / genai: p50 "
        "| LiteLLM / routewise: throughput | LiteLLM / routewise: p50 |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in concurrencies:
        rw, untimed, raw, genai, lite = (
            pick(runs, k, c) for k in ("routewise", "routewise-untimed", "raw", "genai", "litellm")
        )
        if not rw:
            continue
        get = lambda run, key: run[key] if run else None  # noqa: E731
        diff = lambda run: f"{run['p50_us'] - raw['p50_us']:+,.1f}" if run and raw else "n/a"  # noqa: E731
        lines.append(
            f"| {c} | {ratio(rw['throughput'], get(raw, 'throughput'))} | {ratio(rw['p50_us'], get(raw, 'p50_us'))} "
            f"| {diff(rw)} | {ratio(rw['client_cpu_us_per_request'], get(raw, 'client_cpu_us_per_request'))} "
            f"| {ratio(get(untimed, 'throughput'), get(raw, 'throughput'))} "
            f"| {ratio(get(untimed, 'p50_us'), get(raw, 'p50_us'))} | {diff(untimed)} "
            f"| {ratio(rw['throughput'], get(genai, 'throughput'))} | {ratio(rw['p50_us'], get(genai, 'p50_us'))} "
            f"| {times(get(lite, 'throughput'), rw['throughput'])} | {ratio(get(lite, 'p50_us'), rw['p50_us'])} |"
        )
    return lines


def streaming_table(runs):
    lines = [
        "| concurrency | client | first text p50 (µs) | last event p50 (µs) | last event p99 (µs) | throughput (req/s) "
        "| client CPU per request (µs) | vs raw: first / last p50 |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in (1, 64):
        raw = pick(runs, "raw", c, stream=True)
        for client in CLIENTS:
            run = pick(runs, client, c, stream=True)
            if run:
                versus = (
                    f"{ratio(run['first_text_p50_us'], raw['first_text_p50_us'])} / {ratio(run['p50_us'], raw['p50_us'])}"
                    if raw
                    else "n/a"
                )
                lines.append(
                    f"| {c} | {LABELS[client]} | {us(run['first_text_p50_us'])} | {us(run['p50_us'])} | "
                    f"{us(run['p99_us'])} | {run['throughput']:,.0f} | {run['client_cpu_us_per_request']:.1f} | {versus} |"
                )
    return lines


def fallback_table(runs):
    lines = [
        "| concurrency | client | success rate | p50 (µs) | p99 (µs) | added p50 over healthy (µs) | throughput (req/s) "
        "| upstream calls per request |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in (1, 64):
        for client in ("routewise", "litellm"):
            run = pick(runs, client, c, scenario="fallback")
            healthy = pick(runs, client, c)
            if run:
                added = f"{run['p50_us'] - healthy['p50_us']:+,.0f}" if healthy else "n/a"
                lines.append(
                    f"| {c} | {LABELS[client]} | {run['success_rate']:.1%} | {us(run['p50_us'])} | "
                    f"{us(run['p99_us'])} | {added} | {run['throughput']:,.0f} | {run['upstream_requests_per_request']:.2f} |"
                )
    return lines


def upstream_line(runs):
    busiest = max(runs, key=lambda r: r["throughput"])
    shares = [r["upstream_cpu_share"] for r in runs]
    return (
        f"Upstream ceiling: in the fastest run ({LABELS[busiest['client']]}, concurrency "
        f"{busiest['concurrency']}, {'streaming' if busiest['stream'] else 'non-streaming'}, "
        f"{busiest['throughput']:,.0f} req/s) the upstream spent CPU for "
        f"{busiest['upstream_ceiling_per_core']:,.0f} requests per second of its one thread, "
        f"and its core was at most {max(shares):.0%} busy in any run: it was never the bottleneck."
    )


def chart(runs, concurrencies, path):
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for client in CLIENTS:
        points = [(c, pick(runs, client, c)) for c in concurrencies]
        points = [(c, r) for c, r in points if r]
        if not points:
            continue
        xs = [c for c, _ in points]
        left.plot(xs, [r["throughput"] for _, r in points], marker="o", label=LABELS[client])
        right.plot(xs, [r["p50_us"] / 1000 for _, r in points], marker="o", label=f"{LABELS[client]} p50")
        right.plot(
            xs, [r["p99_us"] / 1000 for _, r in points], marker=".", linestyle=":",
            color=right.lines[-1].get_color(), label=f"{LABELS[client]} p99",
        )
    for axis in (left, right):
        axis.set_xscale("log", base=2)
        axis.set_xticks(concurrencies, [str(c) for c in concurrencies])
        axis.set_xlabel("concurrency (requests in flight)")
        axis.grid(True, which="both", alpha=0.3)
    left.set_yscale("log")
    left.set_ylabel("throughput (requests/s, log)")
    left.set_title("Throughput, non-streaming")
    right.set_yscale("log")
    right.set_ylabel("latency (ms, log)")
    right.set_title("Latency, non-streaming")
    left.legend(fontsize=8)
    right.legend(fontsize=7, ncol=2)
    fig.suptitle("OpenAI-format chat completions against a local upstream (single-threaded client and upstream)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    results, tables, chart_path = sys.argv[1:4]
    runs = load(results)
    concurrencies = sorted({r["concurrency"] for r in runs if not r["stream"] and r.get("scenario", "healthy") == "healthy"})
    sections = [
        "Medians over the rounds each Rust client ran (LiteLLM ran once per row).",
        "",
        "### Ratios (non-streaming)",
        *ratio_table(runs, concurrencies),
        "",
        "### Non-streaming, by concurrency",
        *non_streaming_table(runs, concurrencies),
        "",
        "### Streaming",
        *streaming_table(runs),
        "",
        "### Fallback (primary answers 500)",
        *fallback_table(runs),
        "",
        upstream_line(runs),
        "",
    ]
    with open(tables, "w") as f:
        f.write("\n".join(sections))
    chart(runs, concurrencies, chart_path)


if __name__ == "__main__":
    main()
