#!/usr/bin/env bash
# Coverage-guided fuzzing of the event-stream parser and every adapter's response, error
# and stream parsers (libFuzzer, through cargo-fuzz).
#
#   fuzz/run.sh                 every target for 25 s (what .ci/run does)
#   fuzz/run.sh 3600            every target for an hour (the longer run; see README.md)
#   fuzz/run.sh 600 sse         one target
#
# cargo-fuzz needs nightly compiler flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain
# accept them. Inputs found during the run go to fuzz/target/new-corpus/ (kept out of the
# committed seeds in fuzz/corpus/); a crashing input is saved in fuzz/artifacts/<target>/
# and fails the run. Prints one line of figures per target.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-25}"
shift || true

if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked --version 0.13.2
fi
export RUSTC_BOOTSTRAP=1
# No sanitizer: the crate is safe Rust, so AddressSanitizer would only slow the runs;
# panics, timeouts and memory blow-ups are caught either way.
build=(--sanitizer none)

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build "${build[@]}"

mkdir -p target/logs
for target in "${targets[@]}"; do
    mkdir -p "target/new-corpus/$target"
    log="target/logs/$target.log"
    if ! cargo fuzz run "${build[@]}" "$target" "target/new-corpus/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*/[0-9a-zA-Z]*' "$log" | tail -n 1)
    echo "fuzz $target: ${seconds} s, ${execs} executions (${rate}/s), ${cov}, peak RSS ${rss} MB"
done
