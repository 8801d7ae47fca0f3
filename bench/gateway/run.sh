#!/usr/bin/env bash
# Gateway overhead, side by side in one run: the same wrk load (non-streaming chat
# completions, concurrency 64 and 256) against
#   direct   the upstream itself (examples/bench_upstream.rs, one thread)
#   gateway  routewise-gateway (release) in front of it
#   litellm  LiteLLM's proxy (pinned, bench/gateway/requirements.txt), one worker, in front of it
# and prints requests/s, p50 and p99, the added p50/p99 latency over direct and the
# throughput ratios. Loopback only.
#
#   bench/gateway/run.sh           # knobs: DURATION (15s), CONCURRENCIES ("64 256"), LITELLM (1)
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/bench/gateway"
target="${CARGO_TARGET_DIR:-$root/target}"
duration="${DURATION:-15s}"
concurrencies="${CONCURRENCIES:-64 256}"
work="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }

echo "== building the upstream and the gateway (release)" >&2
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --example bench_upstream
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p routewise-gateway

wait_for() { # url
    for _ in $(seq 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
    echo "nothing answers at $1" >&2; exit 1
}

"$target/release/examples/bench_upstream" --port 18090 --threads 1 --content-bytes 256 --latency-ms 0 \
    > "$work/upstream.log" &
pids+=($!)
wait_for http://127.0.0.1:18090/stats

key_hash="$("$target/release/routewise-gateway" hash-key sk-bench-gateway)"
cat > "$work/gateway.toml" <<TOML
[gateway]
keys = [{ name = "bench", sha256 = "$key_hash" }]

[[accounts]]
name = "upstream"
api_key = "\${BENCH_UPSTREAM_KEY}"
base_url = "http://127.0.0.1:18090/v1"
provider = { kind = "openai" }

[[models]]
name = "bench-llm"
targets = [{ account = "upstream", model = "gpt-4o-mini" }]

[[policies]]
name = "default"
route = ["bench-llm"]
TOML
BENCH_UPSTREAM_KEY=sk-upstream "$target/release/routewise-gateway" --config "$work/gateway.toml" --listen 127.0.0.1:18091 \
    > "$work/gateway.log" 2>&1 &
pids+=($!)
wait_for http://127.0.0.1:18091/health

targets=("direct http://127.0.0.1:18090/v1/chat/completions" "gateway http://127.0.0.1:18091/v1/chat/completions")
if [ "${LITELLM:-1}" = 1 ]; then
    echo "== preparing LiteLLM's proxy" >&2
    [ -x "$here/.venv/bin/python" ] || python3 -m venv "$here/.venv"
    "$here/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cat > "$work/litellm.yaml" <<YAML
model_list:
  - model_name: bench-llm
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:18090/v1
      api_key: sk-upstream
general_settings:
  master_key: sk-bench-gateway
litellm_settings:
  drop_params: true
YAML
    "$here/.venv/bin/litellm" --config "$work/litellm.yaml" --host 127.0.0.1 --port 18092 --num_workers 1 \
        > "$work/litellm.log" 2>&1 &
    pids+=($!)
    wait_for http://127.0.0.1:18092/health/liveliness
    targets+=("litellm http://127.0.0.1:18092/v1/chat/completions")
fi

# Warm every server up, then measure each at each concurrency, back to back.
for entry in "${targets[@]}"; do
    read -r _ url <<<"$entry"
    wrk -t2 -c16 -d3s -s "$here/post.lua" "$url" > /dev/null
done
echo "== load average before measuring: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores" >&2
printf "%-8s %5s %10s %10s %10s %8s %8s\n" target conc "req/s" "p50_ms" "p99_ms" "non2xx" "timeouts"
for c in $concurrencies; do
    for entry in "${targets[@]}"; do
        read -r name url <<<"$entry"
        # A long timeout, so a slow server's latency is measured rather than cut off.
        out="$(wrk -t2 -c"$c" -d"$duration" --timeout 30s --latency -s "$here/post.lua" "$url")"
        rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
        p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
        p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
        bad="$(awk '/Non-2xx/ {print $5}' <<<"$out")"
        timeouts="$(awk '/Socket errors/ {print $NF}' <<<"$out")"
        ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us/,"",v); print v/1000 } else if (v ~ /ms$/) { sub(/ms/,"",v); print v } else { sub(/s/,"",v); print v*1000 } }'; }
        printf "%-8s %5s %10s %10.3f %10.3f %8s %8s\n" "$name" "$c" "$rps" "$(ms "$p50")" "$(ms "$p99")" "${bad:-0}" "${timeouts:-0}"
    done
done | tee "$work/table.txt"
echo "== load average after measuring: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# Added latency and throughput ratios against direct, per concurrency.
awk 'NR>0 { rps[$1" "$2]=$3; p50[$1" "$2]=$4; p99[$1" "$2]=$5; conc[$2]=1; names[$1]=1 }
     END { printf "\n%-8s %5s %14s %14s %16s\n", "target", "conc", "+p50_ms", "+p99_ms", "throughput/direct";
           for (c in conc) for (n in names) if (n != "direct")
               printf "%-8s %5s %14.3f %14.3f %16.3f\n", n, c, p50[n" "c]-p50["direct "c], p99[n" "c]-p99["direct "c], rps[n" "c]/rps["direct "c] }' \
    "$work/table.txt"
