"""Extracts the pattern strings of the stix2-patterns test suite (the OASIS STIX pattern
validator, PyPI sdist `stix2-patterns`) for tests/stix_patterns.rs, without importing it (it
needs the ANTLR runtime): the test modules are read with `ast`, the spec examples as lines.

Usage: stix_patterns.py SDIST_DIR  (the unpacked sdist, holding stix2patterns/test/)
Prints one JSON object per line: {"verdict": V, "pattern": P, "from": "file:line"} where V is
  "valid"    the suite says the validator accepts it,
  "syntax"   the suite says the grammar refuses it ("FAIL: Error found at line ..."),
  "semantic" the suite says the validator refuses it after parsing (a malformed hash, a
             duplicate qualifier): grammar-valid, but never a block entry.
The v20 files test the same grammar without EXISTS: their valid patterns are valid 2.1 too;
their failures are taken only when they do not mention EXISTS.
"""
import ast
import json
import os
import sys


def literal(node):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def emit(verdict, pattern, where):
    if isinstance(pattern, str):
        print(json.dumps({"verdict": verdict, "pattern": pattern, "from": where}))


def module_cases(path, version):
    rel = os.path.relpath(path, ROOT)
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    for node in ast.walk(tree):
        # PASS_CASES = [...], FAIL_CASES = [(pattern, message), ...], TIMESTAMP_*.
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            name = getattr(node.targets[0], "id", "")
            value = literal(node.value)
            if not name.endswith("CASES") or not isinstance(value, list):
                continue
            where = f"{rel}:{node.lineno} {name}"
            for case in value:
                if isinstance(case, str):
                    emit("valid", case, where)
                elif isinstance(case, tuple) and len(case) == 2:
                    pattern, message = case
                    if version == "v20" and "EXISTS" in pattern:
                        continue
                    kind = "syntax" if message.startswith("FAIL: Error found at") else "semantic"
                    emit(kind, pattern, where)
        # @pytest.mark.parametrize("pattern,...", [(pattern, expected), ...]): inspector tests
        # compile every pattern, so each is valid.
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "parametrize":
            args = [literal(a) for a in node.args]
            if len(args) == 2 and isinstance(args[0], str) and args[0].startswith("pattern"):
                for case in args[1] or []:
                    if isinstance(case, tuple):
                        emit("valid", case[0], f"{rel}:{node.lineno} parametrize")


ROOT = sys.argv[1]
tests = os.path.join(ROOT, "stix2patterns", "test")
for version in ("v21", "v20"):
    d = os.path.join(tests, version)
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        if name == "spec_examples.txt":
            for n, line in enumerate(open(path, encoding="utf-8"), 1):
                if line.strip():
                    emit("valid", line.strip(), f"{os.path.relpath(path, ROOT)}:{n}")
        elif name.startswith("test_") and name.endswith(".py"):
            module_cases(path, version)
