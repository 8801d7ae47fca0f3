#!/usr/bin/env bash
# The whole side-by-side comparison in one command:
#
#   bench/peers/run.sh            # writes bench/results/{results.jsonl,tables.md,chart.png}
#
# Builds the upstream (examples/bench_upstream.rs) and the Rust load driver (bench/load),
# installs the pinned LiteLLM into bench/peers/.venv, starts one single-threaded upstream,
# then drives routewise (with the adapter's default timeouts, and with its read and total timers
# off as the raw client has none), a raw reqwest client (twice: with the reqwest features
# routewise enables, and with reqwest's own default features), genai and LiteLLM's Router
# with the same request, request count and concurrency: non-streaming at several
# concurrencies, streaming at 1 and 64, and a fallback scenario (the primary answers 500,
# the fallback serves). Loopback only; every loop is bounded by its request count.
#
# Each Rust client runs in two modes (MODES): `current`, one task on a current-thread runtime
# polling every call in flight, and `multi`, how `#[tokio::main]` applications run: a
# 2-worker multi-thread runtime with a task spawned per request. LiteLLM has its own driver
# and runs once per row; its figures are reported beside both modes.
#
# The load driver is built three times, because cargo gives a binary one reqwest with the
# union of everyone's features: without features (routewise, and the raw client with
# routewise's reqwest features), with `reqwest-defaults` (the raw client with reqwest's
# default features) and with `genai` (whose gzip and charset features would otherwise apply
# to every client). BEFORE_LOAD=<path> adds a load driver built against an older routewise
# (its routewise rows are reported as `routewise-before`).
#
# The Rust clients run ROUNDS times, interleaved, and the report takes each measure's
# median, because a shared machine drifts; LiteLLM, a hundred times slower, runs once.
#
# Knobs (environment): REQUESTS (default 5000 per run), ROUNDS (3), CONCURRENCIES
# ("1 4 16 64"), MODES ("current multi"), WORKERS (2), PORT (18080), CONTENT_BYTES (256),
# LATENCY_MS (0), PIN (0), LITELLM (1; 0 leaves it out), BEFORE_LOAD (unset), RESULTS
# (bench/results: where the results, tables and chart go).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
peers="$root/bench/peers"
results="${RESULTS:-$root/bench/results}"
requests="${REQUESTS:-5000}"
rounds="${ROUNDS:-3}"
concurrencies="${CONCURRENCIES:-1 4 16 64}"
port="${PORT:-18080}"
base="http://127.0.0.1:$port/v1"
failing="http://127.0.0.1:$port/fail/v1"
modes="${MODES:-current multi}"
workers="${WORKERS:-2}"
litellm="${LITELLM:-1}"
target="${CARGO_TARGET_DIR:-$root/target}"
mkdir -p "$results"

echo "== building the upstream and the load driver variants (release)"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --target-dir "$target" --example bench_upstream
upstream_bin="$target/release/examples/bench_upstream"
declare -A load_bins
for variant in plain reqwest-defaults genai; do
    features=()
    [ "$variant" = plain ] || features=(--features "$variant")
    cargo build --release --quiet --manifest-path "$root/bench/load/Cargo.toml" --target-dir "$target" "${features[@]}"
    cp "$target/release/routewise-load" "$target/release/routewise-load-$variant"
    load_bins[$variant]="$target/release/routewise-load-$variant"
done

echo "== preparing the LiteLLM virtualenv (and matplotlib for the chart)"
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
# A client name as run.sh knows it -> the load driver build and the flags that run it.
drive() { # client, mode, extra flags...
    local client="$1" mode="$2"
    shift 2
    local line
    case "$client" in
        litellm) line="$("${pin_client[@]}" "$python" "$peers/litellm_load.py" --requests "$requests" "$@")" ;;
        raw-defaults) line="$(run_load "${load_bins[reqwest-defaults]}" raw "$mode" "$@")" ;;
        genai) line="$(run_load "${load_bins[genai]}" genai "$mode" "$@")" ;;
        routewise-before) line="$(run_load "$BEFORE_LOAD" routewise "$mode" --label routewise-before "$@")" ;;
        *) line="$(run_load "${load_bins[plain]}" "$client" "$mode" "$@")" ;;
    esac
    echo "$line" >> "$out"
    echo "$line"
}
run_load() { # binary, client, mode, extra flags...
    local bin="$1" client="$2" mode="$3"
    shift 3
    "${pin_client[@]}" "$bin" --client "$client" --requests "$requests" \
        --runtime "$mode" --workers "$workers" "$@"
}

# Every client of `clients` on one scenario: the Rust ones `rounds` times in every mode,
# interleaved (client by client, then mode by mode, then round by round).
compare() { # clients, flags...
    local clients="$1"
    shift
    for round in $(seq "$rounds"); do
        for mode in $modes; do
            for client in $clients; do
                if [ "$client" != litellm ]; then drive "$client" "$mode" "$@"; fi
            done
        done
    done
    if [ "$litellm" = 1 ]; then
        case " $clients " in *" litellm "*) drive litellm - "$@" ;; esac
    fi
}

rust_clients="raw raw-defaults routewise routewise-untimed"
[ -z "${BEFORE_LOAD:-}" ] || rust_clients="$rust_clients routewise-before"

echo "== non-streaming, by concurrency"
for c in $concurrencies; do
    compare "$rust_clients genai litellm" --base-url "$base" --concurrency "$c"
done

echo "== streaming"
for c in 1 64; do
    compare "$rust_clients genai litellm" --base-url "$base" --concurrency "$c" --stream
done

echo "== fallback: the primary answers 500, the fallback serves"
for c in 1 64; do
    compare "routewise litellm" --base-url "$failing" --fallback-base-url "$base" \
        --concurrency "$c" --scenario fallback
done

echo "== report"
"$python" "$peers/report.py" "$out" "$results/tables.md" "$results/chart.png"
cat "$results/tables.md"
