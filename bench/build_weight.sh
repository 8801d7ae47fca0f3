#!/usr/bin/env bash
# Cold `cargo build` of a hello-world dependent of routewise: BEFORE (a commit, default
# b9da15e) next to this checkout with default features and with `tiktoken` on, one after
# the other in one run, each with an empty target directory under $WORK (default
# /tmp/rw-cold). Prints wall time, crates (`cargo tree -e normal,build`), compiled units
# and the debug binary's size. Uses the crates already downloaded (--offline). VARIANTS
# picks which to build (default "before after after-tiktoken"); ROUNDS repeats them. Wall
# time moves with the machine's load; CPU time (user + system of cargo and rustc) much less.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
before="${BEFORE:-b9da15e}"
work="${WORK:-/tmp/rw-cold}"
rm -rf "$work" && mkdir -p "$work/src-before" "$work/src-after"
git -C "$repo" archive "$before" | tar -x -C "$work/src-before"
git -C "$repo" archive HEAD | tar -x -C "$work/src-after"

app() { # name, routewise source, extra dependency keys
    mkdir -p "$work/app-$1/src"
    cat > "$work/app-$1/Cargo.toml" <<TOML
[package]
name = "hello-$1"
version = "0.1.0"
edition = "2024"

[dependencies]
routewise = { path = "$2" $3 }
TOML
    cat > "$work/app-$1/src/main.rs" <<'RUST'
use routewise::{LogicalModel, OpenAi, Policy, ProviderAccount, Router, Target};

fn main() {
    let router = Router::builder()
        .account(ProviderAccount::new("openai", OpenAi::new()).api_key("sk-test"))
        .model(LogicalModel::new("m").target(Target::new("openai", "gpt-4o")))
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap();
    println!("{router:?}");
}
RUST
    cp "$2/Cargo.lock" "$work/app-$1/"
}
app before "$work/src-before" ""
app after "$work/src-after" ""
app after-tiktoken "$work/src-after" ', features = ["tiktoken"]'

build() { # variant: one cold build, wall time and the CPU time of cargo and rustc
    local variant="$1"
    cd "$work/app-$variant"
    rm -rf "$work/target-$variant"
    local TIMEFORMAT="%R %U %S"
    local timed
    timed=$( { time CARGO_TARGET_DIR="$work/target-$variant" cargo build --offline \
        --message-format=json 2>"$work/$variant.err" >"$work/$variant.json"; } 2>&1 )
    read -r wall user sys <<<"$timed"
    units=$(grep -c '"reason":"compiler-artifact"' "$work/$variant.json")
    crates=$(cargo tree --offline --prefix none -e normal,build | sed 's/ (\*)//' | sort -u | wc -l)
    size=$(stat -c %s "$work/target-$variant/debug/hello-$variant")
    echo "$variant: ${wall} s wall, $(echo "$user + $sys" | bc) s CPU, $crates crates, $units units, $size bytes"
}

# ROUNDS > 1 repeats the builds, every other round in reverse order, so that the machine's
# load drifting during a run weighs on each variant alike.
variants=(${VARIANTS:-before after after-tiktoken})
for ((round = 1; round <= ${ROUNDS:-1}; round++)); do
    order=("${variants[@]}")
    if ((round % 2 == 0)); then
        order=($(printf '%s\n' "${variants[@]}" | tac))
    fi
    for variant in "${order[@]}"; do
        echo -n "round $round: " && build "$variant"
    done
done
