"""Turns the comparison's results.jsonl into markdown tables and a chart.

    python report.py results.jsonl tables.md chart.png
"""

import json
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

CLIENTS = ["raw", "raw-defaults", "routewise", "routewise-untimed", "routewise-before", "genai", "litellm"]
LABELS = {
    "raw": "raw reqwest (routewise's reqwest features)",
    "raw-defaults": "raw reqwest (reqwest's default features)",
    "routewise": "routewise",
    "routewise-untimed": "routewise, adapter timers off",
    "routewise-before": "routewise before this change",
    "genai": "genai",
    "litellm": "LiteLLM Router",
}
MODES = {
    "current": "current-thread runtime, one task polling every call",
    "multi": "multi-thread runtime (2 workers), a task per request",
}


KEY = ("client", "stream", "concurrency", "scenario", "runtime")


def load(path):
    """The runs, with repeated rounds of one configuration merged into their medians (each
    merged run keeps its rounds, in order, for per-round ratios)."""
    with open(path) as f:
        runs = [json.loads(line) for line in f if line.strip()]
    groups = {}
    for run in runs:
        run.setdefault("scenario", "healthy")
        # LiteLLM has its own driver: one run stands beside every mode.
        run["runtime"] = None if run["client"] == "litellm" else run.get("runtime", "current")
        groups.setdefault(tuple(run[k] for k in KEY), []).append(run)
    merged = []
    for rounds in groups.values():
        run = dict(rounds[0])
        for field, value in rounds[0].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and field not in KEY:
                values = [r[field] for r in rounds if r.get(field) is not None]
                run[field] = statistics.median(values) if values else None
        run["rounds"] = len(rounds)
        run["each"] = rounds
        merged.append(run)
    return merged


def pick(runs, client, concurrency, stream=False, scenario="healthy", mode="current"):
    for run in runs:
        if (
            run["client"] == client
            and run["concurrency"] == concurrency
            and bool(run["stream"]) == stream
            and run.get("scenario", "healthy") == scenario
            and run["runtime"] in (mode, None)
        ):
            return run
    return None


def ratio(a, b):
    return f"{a / b:.3f}" if a and b else "n/a"


def round_ratio(run, base, field):
    """The median of the per-round ratios of `field` (rounds were interleaved, so round i of
    one client ran next to round i of the other); the ratio of medians when they differ
    in rounds."""
    if not run or not base:
        return "n/a"
    pairs = [(r[field], b[field]) for r, b in zip(run["each"], base["each"]) if r[field] and b[field]]
    if len(run["each"]) != len(base["each"]) or not pairs:
        return ratio(run[field], base[field])
    return f"{statistics.median(a / b for a, b in pairs):.3f}"


def round_diff(run, base, field):
    """The median of the per-round differences of `field`, in µs."""
    if not run or not base:
        return "n/a"
    pairs = [(r[field], b[field]) for r, b in zip(run["each"], base["each"]) if r[field] and b[field]]
    if len(run["each"]) != len(base["each"]) or not pairs:
        return f"{run[field] - base[field]:+,.1f}"
    return f"{statistics.median(a - b for a, b in pairs):+,.1f}"


def times(a, b):
    """a / b, and how many times b is a."""
    return f"{a / b:.4f} (routewise ×{b / a:,.0f})" if a and b else "n/a"


def us(value):
    return f"{value:,.0f}" if value is not None else "n/a"


def non_streaming_table(runs, concurrencies, mode):
    lines = [
        "| concurrency | client | throughput (req/s) | p50 (µs) | p99 (µs) | client CPU per request (µs) | upstream CPU share |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in concurrencies:
        for client in CLIENTS:
            run = pick(runs, client, c, mode=mode)
            if run:
                lines.append(
                    f"| {c} | {LABELS[client]} | {run['throughput']:,.0f} | {us(run['p50_us'])} | "
                    f"{us(run['p99_us'])} | {run['client_cpu_us_per_request']:.1f} | "
                    f"{run['upstream_cpu_share']:.0%} |"
                )
    return lines


def ratio_table(runs, concurrencies, mode):
    """routewise (and its variants) against both raw clients: medians of per-round ratios."""
    lines = [
        "| concurrency | routewise / raw: throughput | routewise − raw: p50 (µs) "
        "| routewise / raw (reqwest defaults): throughput | routewise − raw (reqwest defaults): p50 (µs) "
        "| raw / raw (reqwest defaults): throughput | routewise / raw: client CPU per request "
        "| timers off / raw: throughput | timers off − raw: p50 (µs) "
        "| before / raw: throughput | before − raw: p50 (µs) "
        "| routewise / genai: throughput | LiteLLM / routewise: throughput |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in concurrencies:
        rw, untimed, before, raw, defaults, genai, lite = (
            pick(runs, k, c, mode=mode)
            for k in ("routewise", "routewise-untimed", "routewise-before", "raw", "raw-defaults", "genai", "litellm")
        )
        if not rw:
            continue
        get = lambda run, key: run[key] if run else None  # noqa: E731
        lines.append(
            f"| {c} | {round_ratio(rw, raw, 'throughput')} | {round_diff(rw, raw, 'p50_us')} "
            f"| {round_ratio(rw, defaults, 'throughput')} | {round_diff(rw, defaults, 'p50_us')} "
            f"| {round_ratio(raw, defaults, 'throughput')} "
            f"| {round_ratio(rw, raw, 'client_cpu_us_per_request')} "
            f"| {round_ratio(untimed, raw, 'throughput')} | {round_diff(untimed, raw, 'p50_us')} "
            f"| {round_ratio(before, raw, 'throughput')} | {round_diff(before, raw, 'p50_us')} "
            f"| {ratio(rw['throughput'], get(genai, 'throughput'))} "
            f"| {times(get(lite, 'throughput'), rw['throughput'])} |"
        )
    return lines


def streaming_table(runs, mode):
    lines = [
        "| concurrency | client | first text p50 (µs) | last event p50 (µs) | last event p99 (µs) | throughput (req/s) "
        "| client CPU per request (µs) | vs raw: first / last p50 / throughput |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in (1, 64):
        raw = pick(runs, "raw", c, stream=True, mode=mode)
        for client in CLIENTS:
            run = pick(runs, client, c, stream=True, mode=mode)
            if run:
                versus = (
                    f"{round_ratio(run, raw, 'first_text_p50_us')} / {round_ratio(run, raw, 'p50_us')} "
                    f"/ {round_ratio(run, raw, 'throughput')}"
                    if raw
                    else "n/a"
                )
                lines.append(
                    f"| {c} | {LABELS[client]} | {us(run['first_text_p50_us'])} | {us(run['p50_us'])} | "
                    f"{us(run['p99_us'])} | {run['throughput']:,.0f} | {run['client_cpu_us_per_request']:.1f} | {versus} |"
                )
    return lines


def fallback_table(runs, mode):
    lines = [
        "| concurrency | client | success rate | p50 (µs) | p99 (µs) | added p50 over healthy (µs) | throughput (req/s) "
        "| upstream calls per request |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in (1, 64):
        for client in ("routewise", "litellm"):
            run = pick(runs, client, c, scenario="fallback", mode=mode)
            healthy = pick(runs, client, c, mode=mode)
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


def chart(runs, concurrencies, modes, path):
    fig, axes = plt.subplots(len(modes), 2, figsize=(11, 4.2 * len(modes)), squeeze=False)
    for (left, right), mode in zip(axes, modes):
        for client in CLIENTS:
            points = [(c, pick(runs, client, c, mode=mode)) for c in concurrencies]
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
        left.set_title(f"Throughput, non-streaming\n{MODES.get(mode, mode)}", fontsize=9)
        right.set_yscale("log")
        right.set_ylabel("latency (ms, log)")
        right.set_title(f"Latency, non-streaming\n{MODES.get(mode, mode)}", fontsize=9)
        left.legend(fontsize=7)
        right.legend(fontsize=6, ncol=2)
    fig.suptitle("OpenAI-format chat completions against a local single-threaded upstream")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    results, tables, chart_path = sys.argv[1:4]
    runs = load(results)
    concurrencies = sorted({r["concurrency"] for r in runs if not r["stream"] and r.get("scenario", "healthy") == "healthy"})
    modes = [m for m in MODES if any(r["runtime"] == m for r in runs)]
    sections = [
        "Medians over the rounds each Rust client ran (LiteLLM ran once per row, with its own "
        "driver, and stands beside both modes); ratios are medians of per-round ratios.",
        "",
    ]
    for mode in modes:
        sections += [
            f"## {MODES[mode]}",
            "",
            "### Ratios (non-streaming)",
            *ratio_table(runs, concurrencies, mode),
            "",
            "### Non-streaming, by concurrency",
            *non_streaming_table(runs, concurrencies, mode),
            "",
            "### Streaming",
            *streaming_table(runs, mode),
            "",
            "### Fallback (primary answers 500)",
            *fallback_table(runs, mode),
            "",
        ]
    sections += [upstream_line(runs), ""]
    with open(tables, "w") as f:
        f.write("\n".join(sections))
    chart(runs, concurrencies, modes, chart_path)


if __name__ == "__main__":
    main()
