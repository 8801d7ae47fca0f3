#!/usr/bin/env bash
# The whole side-by-side comparison in one command:
#
#   bench/peers/run.sh            # writes bench/results/{results.jsonl,tables.md,chart.png}
#
# Builds the upstream (examples/bench_upstream.rs) and the Rust load driver (bench/load),
# installs the pinned LiteLLM into bench/peers/.venv, starts one single-threaded upstream,
# then drives routewise (with the adapter's default timeouts, and with its read and total timers
# off as the raw client has none), a raw reqwest client, genai and LiteLLM's Router from the other
# core with the same request, request count and concurrency: non-streaming at several
# concurrencies, streaming at 1 and 64, and a fallback scenario (the primary answers 500,
# the fallback serves). Loopback only; every loop is bounded by its request count.
#
# The Rust clients run ROUNDS times, interleaved, and the report takes each measure's
# median, because a shared machine drifts; LiteLLM, a hundred times slower, runs once.
#
# Knobs (environment): REQUESTS (default 5000 per run), ROUNDS (3), CONCURRENCIES
# ("1 4 16 64"), PORT (18080), CONTENT_BYTES (256), LATENCY_MS (0), PIN (0).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
peers="$root/bench/peers"
results="$root/bench/results"
requests="${REQUESTS:-5000}"
rounds="${ROUNDS:-3}"
concurrencies="${CONCURRENCIES:-1 4 16 64}"
port="${PORT:-18080}"
base="http://127.0.0.1:$port/v1"
failing="http://127.0.0.1:$port/fail/v1"
mkdir -p "$results"

echo "== building the upstream and the load driver (release)"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --example bench_upstream
cargo build --release --quiet --manifest-path "$root/bench/load/Cargo.toml" --target-dir "$root/target"
upstream_bin="$root/target/release/examples/bench_upstream"
load_bin="$root/target/release/routewise-load"

echo "== preparing the LiteLLM virtualenv"
if [ ! -x "$peers/.venv/bin/python" ]; then
    python3 -m venv "$peers/.venv"
fi
"$peers/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$peers/requirements.txt"
python="$peers/.venv/bin/python"

# PIN=1 puts the upstream on core 1 and the client on core 0. On a machine shared with other
# work pinning hurts (a pinned thread cannot leave a busy core), so it is off by default.
pin_upstream=() pin_client=()
if [ "${PIN:-0}" = 1 ] && command -v taskset > /dev/null && [ "$(nproc)" -ge 2 ]; then
    pin_upstream=(taskset -c 1) pin_client=(taskset -c 0)
fi

echo "== starting the upstream on port $port"
"${pin_upstream[@]}" "$upstream_bin" --port "$port" --threads 1 \
    --content-bytes "${CONTENT_BYTES:-256}" --latency-ms "${LATENCY_MS:-0}" > "$results/upstream.log" &
upstream_pid=$!
trap 'kill "$upstream_pid" 2> /dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q "listening on" "$results/upstream.log" && break
    sleep 0.1
done
grep -q "listening on" "$results/upstream.log" || { echo "the upstream did not start" >&2; exit 1; }

out="$results/results.jsonl"
: > "$out"
drive() { # client, extra flags...
    local client="$1"
    shift
    local line
    if [ "$client" = litellm ]; then
        line="$("${pin_client[@]}" "$python" "$peers/litellm_load.py" --requests "$requests" "$@")"
    else
        line="$("${pin_client[@]}" "$load_bin" --client "$client" --requests "$requests" "$@")"
    fi
    echo "$line" >> "$out"
    echo "$line"
}

# Every client of `clients` on one scenario: the Rust ones `rounds` times, interleaved.
compare() { # clients, flags...
    local clients="$1"
    shift
    for round in $(seq "$rounds"); do
        for client in $clients; do
            if [ "$client" != litellm ]; then drive "$client" "$@"; fi
        done
    done
    case " $clients " in *" litellm "*) drive litellm "$@" ;; esac
}

echo "== non-streaming, by concurrency"
for c in $concurrencies; do
    compare "raw routewise routewise-untimed genai litellm" --base-url "$base" --concurrency "$c"
done

echo "== streaming"
for c in 1 64; do
    compare "raw routewise routewise-untimed genai litellm" --base-url "$base" --concurrency "$c" --stream
done

echo "== fallback: the primary answers 500, the fallback serves"
for c in 1 64; do
    compare "routewise litellm" --base-url "$failing" --fallback-base-url "$base" \
        --concurrency "$c" --scenario fallback
done

echo "== report"
"$python" "$peers/report.py" "$out" "$results/tables.md" "$results/chart.png"
cat "$results/tables.md"
