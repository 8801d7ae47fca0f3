"""Checks wire-format bodies against the official SDKs' own types.

Reads a JSON list of {"provider": ..., "kind": ..., "body": ...} from stdin and writes a
JSON list of {"ok": bool, "error": str|null}, one per item, in order. Each provider's
kinds live in `checks_<provider>.py` beside this file, as a dict `KINDS` mapping a kind
name to a function that raises `strict.Invalid` (or any exception) for a bad body.

Warnings are errors: google-genai only warns on unknown enum values.
"""

import importlib
import json
import os
import sys
import warnings

warnings.simplefilter("error")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    items = json.load(sys.stdin)
    results = []
    modules = {}
    for item in items:
        provider, kind = item["provider"], item["kind"]
        try:
            if provider not in modules:
                modules[provider] = importlib.import_module(f"checks_{provider}")
            check = modules[provider].KINDS[kind]
            check(item["body"])
            results.append({"ok": True, "error": None})
        except Exception as err:  # every failure is a verdict, reported per item
            results.append({"ok": False, "error": f"{type(err).__name__}: {err}"})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
