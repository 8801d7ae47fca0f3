#!/usr/bin/env python3
"""Regenerates routewise's built-in model data from LiteLLM's model table.

The built-in profile table (src/provider/profile/models.json) is a trimmed copy of
LiteLLM's `model_prices_and_context_window.json`: the chat models of OpenAI, Anthropic and
Gemini, with only the fields routewise reads (windows, prices, `supports_*` flags), in
LiteLLM's own format, so the same parser reads it and any LiteLLM file a user points to.
Models routewise shipped data for earlier that LiteLLM no longer lists come from
scripts/profiles/supplement.json. Which parameters each model family accepts is not in
LiteLLM's data; it is kept by hand in src/provider/profile/rules.json.

LiteLLM is MIT-licensed (https://github.com/BerriAI/litellm); the generated file records
the version, the snapshot date and the licence in its `_source` entry.

To regenerate (GitHub need not be reachable; the wheel on PyPI ships the file):

    pip download litellm --no-deps -d /tmp/litellm
    unzip -o /tmp/litellm/litellm-*.whl \
        'litellm/model_prices_and_context_window_backup.json' -d /tmp/litellm
    python3 scripts/profiles/generate.py \
        /tmp/litellm/litellm/model_prices_and_context_window_backup.json \
        --litellm-version 1.110.2 --snapshot-date 2026-12-03

then run `cargo nextest run --all-features -E 'test(profile)'`, which checks that every
model of the earlier tables is still covered.
"""

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "src" / "provider" / "profile" / "models.json"
SUPPLEMENT = Path(__file__).resolve().parent / "supplement.json"

PROVIDERS = {"openai", "anthropic", "gemini"}

# Chat-mode entries that are not general chat models (speech, search, image, media
# generation, robotics, agents) or that the adapters do not serve.
EXCLUDED = re.compile(
    r"audio|realtime|tts|transcribe|search|image|computer-use|lyria|robotics|deep-research"
    r"|gemma|learnlm|customtools|omni|cyber|rosalind|-law$|gemini-exp|^ft:|container|daybreak"
    r"|^chat-latest$"
)

KEPT_FIELDS = [
    "litellm_provider",
    "mode",
    "max_input_tokens",
    "max_output_tokens",
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
    "supports_function_calling",
    "supports_tool_choice",
    "supports_vision",
    "supports_response_schema",
    "supports_reasoning",
]


def trimmed(entry):
    return {k: entry[k] for k in KEPT_FIELDS if k in entry}


def wanted(name, entry):
    return (
        isinstance(entry, dict)
        and entry.get("litellm_provider") in PROVIDERS
        and entry.get("mode") == "chat"
        and not EXCLUDED.search(name)
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("litellm_json", type=Path)
    parser.add_argument("--litellm-version", required=True)
    parser.add_argument("--snapshot-date", required=True, help="YYYY-MM-DD")
    args = parser.parse_args()

    source = json.loads(args.litellm_json.read_text())
    models = {name: trimmed(e) for name, e in source.items() if wanted(name, e)}
    supplement = json.loads(SUPPLEMENT.read_text())
    added = 0
    for name, entry in supplement.items():
        if name.startswith("_") or name in models:
            continue
        models[name] = trimmed(entry)
        added += 1

    out = {
        "_source": {
            "from": "LiteLLM model_prices_and_context_window.json "
            "(https://github.com/BerriAI/litellm), trimmed by scripts/profiles/generate.py",
            "litellm_version": args.litellm_version,
            "snapshot_date": args.snapshot_date,
            "license": "MIT (LiteLLM, Copyright (c) 2023 Berri AI)",
            "supplement": f"{added} models from scripts/profiles/supplement.json",
        }
    }
    out.update(sorted(models.items()))
    OUTPUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {len(models)} models ({added} from the supplement) to {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
