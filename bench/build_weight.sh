#!/usr/bin/env bash
# Cold `cargo build` of a hello-world dependent of routewise, several versions side by side
# in one run, each with an empty target directory under $WORK (default /tmp/rw-cold).
# Variants (VARIANTS, default "before main after floor"):
#   before          routewise at $BEFORE (default b9da15e), default features
#   main            routewise at $MAIN (default 2c6a007), default features
#   after           this checkout's HEAD, default features
#   after-tiktoken  HEAD with `tiktoken` on
#   floor           no routewise: an app that depends on exactly the crates HEAD's default
#                   features build (same versions, same features), so the build compiles
#                   every dependency and nothing of routewise's own
# Prints wall time, CPU time (user + system of cargo, rustc and build scripts), the load
# average when the build started, crates (`cargo tree -e normal,build`), compiled units and
# the debug binary's size. Uses the crates already downloaded (--offline) and each
# version's own Cargo.lock. ROUNDS repeats the variants, every other round in reverse
# order, so that the machine's load drifting during a run weighs on each variant alike.
# Wall time moves with the machine's load; CPU time much less. Every build runs with
# CARGO_INCREMENTAL=0 (INCREMENTAL=1 to change it): cargo compiles a path dependency
# incrementally, writing its query cache, but a dependency from crates.io not. OWN=N then rebuilds
# routewise alone N times in each routewise variant's target (its source touched, every
# dependency already built, the same debug profile a dependent gets): routewise's own
# compile, without its dependencies (after ROUNDS=0, over the targets an earlier run left).
set -euo pipefail
export CARGO_INCREMENTAL="${INCREMENTAL:-0}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${WORK:-/tmp/rw-cold}"
# Sources and apps are laid anew; each cold build empties its own target directory first,
# and OWN rounds reuse the targets left by the last cold builds (`ROUNDS=0 OWN=3`).
mkdir -p "$work" && rm -rf "$work"/src-* "$work"/app-*
for version in "before:${BEFORE:-b9da15e}" "main:${MAIN:-2c6a007}" "after:HEAD"; do
    mkdir -p "$work/src-${version%%:*}"
    git -C "$repo" archive "${version#*:}" | tar -x -C "$work/src-${version%%:*}"
done

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
app main "$work/src-main" ""
app after "$work/src-after" ""
app after-tiktoken "$work/src-after" ', features = ["tiktoken"]'

# The floor: routewise's [dependencies] as its default features enable them (optional
# ones only when a default feature names them, with the dependency features the defaults
# add), in an app of its own with routewise's lock, so the same versions are built.
mkdir -p "$work/app-floor/src"
echo 'fn main() {}' > "$work/app-floor/src/main.rs"
cp "$work/src-after/Cargo.lock" "$work/app-floor/"
python3 - "$work/src-after/Cargo.toml" > "$work/app-floor/Cargo.toml" <<'PY'
import json, sys, tomllib

manifest = tomllib.load(open(sys.argv[1], "rb"))
features = manifest["features"]
enabled, extra, todo = set(), {}, list(features["default"])
while todo:
    item = todo.pop()
    if item in features:
        todo.extend(features[item])
    elif item.startswith("dep:"):
        enabled.add(item[4:])
    elif "/" in item:
        dep, feature = item.split("/")
        extra.setdefault(dep.rstrip("?"), []).append(feature)
        if not dep.endswith("?"):
            enabled.add(dep)
print('[package]\nname = "hello-floor"\nversion = "0.1.0"\nedition = "2024"\n\n[dependencies]')
for name, spec in manifest["dependencies"].items():
    spec = {"version": spec} if isinstance(spec, str) else dict(spec)
    if spec.pop("optional", False) and name not in enabled:
        continue
    spec["features"] = sorted(set(spec.get("features", []) + extra.get(name, [])))
    fields = ", ".join(f"{key} = {json.dumps(value)}" for key, value in spec.items())
    print(f"{name} = {{ {fields} }}")
PY

build() { # variant: one cold build, wall time and the CPU time of cargo and rustc
    local variant="$1"
    cd "$work/app-$variant"
    rm -rf "$work/target-$variant"
    local load
    load=$(cut -d' ' -f1 /proc/loadavg)
    local TIMEFORMAT="%R %U %S"
    local timed
    timed=$( { time CARGO_TARGET_DIR="$work/target-$variant" cargo build --offline \
        --message-format=json 2>"$work/$variant.err" >"$work/$variant.json"; } 2>&1 )
    read -r wall user sys <<<"$timed"
    units=$(grep -c '"reason":"compiler-artifact"' "$work/$variant.json")
    crates=$(cargo tree --offline --prefix none -e normal,build | sed 's/ (\*)//' | sort -u | wc -l)
    size=$(stat -c %s "$work/target-$variant/debug/hello-$variant")
    echo "$variant: ${wall} s wall, $(echo "$user + $sys" | bc) s CPU, load $load at start," \
        "$crates crates, $units units, $size bytes"
}

variants=(${VARIANTS:-before main after floor})
for ((round = 1; round <= ${ROUNDS:-1}; round++)); do
    order=("${variants[@]}")
    if ((round % 2 == 0)); then
        order=($(printf '%s\n' "${variants[@]}" | tac))
    fi
    for variant in "${order[@]}"; do
        echo -n "round $round: " && build "$variant"
    done
done

own() { # variant: routewise and the app rebuilt over the cold build's dependencies
    local variant="$1"
    touch "$work/src-${variant%-tiktoken}/src/lib.rs"
    cd "$work/app-$variant"
    local TIMEFORMAT="%R %U %S"
    local timed
    timed=$( { time CARGO_TARGET_DIR="$work/target-$variant" cargo build --offline \
        2>/dev/null; } 2>&1 )
    read -r wall user sys <<<"$timed"
    echo "$variant, routewise alone: ${wall} s wall, $(echo "$user + $sys" | bc) s CPU," \
        "load $(cut -d' ' -f1 /proc/loadavg) at the end"
}

for ((round = 1; round <= ${OWN:-0}; round++)); do
    for variant in "${variants[@]}"; do
        if [ "$variant" != floor ]; then
            echo -n "own $round: " && own "$variant"
        fi
    done
done
