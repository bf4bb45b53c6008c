#!/usr/bin/env bash
# Fetch a current Public Suffix List and check it before it is used.
#
#   scripts/refresh-psl.sh [OUT]     (default OUT: assets/public_suffix_list.dat, the built-in copy)
#
# Tries publicsuffix.org first; where only package registries are reachable, takes the copy the
# PyPI package `publicsuffixlist` bundles. The new file is checked (markers, size, and that
# edlforge loads it and still refuses `co.uk`) before it replaces OUT.
# A file written elsewhere is used at run time with `edlforge convert --psl FILE`, no rebuild.
set -euo pipefail
cd -- "$(dirname -- "$0")/.."
out=${1:-assets/public_suffix_list.dat}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if curl -fsSL --max-time 30 -o "$tmp/psl.dat" https://publicsuffix.org/list/public_suffix_list.dat 2>/dev/null; then
    echo "fetched from publicsuffix.org" >&2
else
    echo "publicsuffix.org not reachable; using the PyPI package publicsuffixlist" >&2
    python3 -m pip download --quiet --no-deps -d "$tmp/pkg" publicsuffixlist
    whl=$(ls "$tmp"/pkg/publicsuffixlist-*.whl | head -n 1)
    python3 - "$whl" "$tmp/psl.dat" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    name = next(n for n in z.namelist() if n.endswith("public_suffix_list.dat"))
    open(sys.argv[2], "wb").write(z.read(name))
PY
fi

grep -q "===BEGIN ICANN DOMAINS===" "$tmp/psl.dat" || { echo "error: no ICANN section" >&2; exit 1; }
grep -q "===BEGIN PRIVATE DOMAINS===" "$tmp/psl.dat" || { echo "error: no private section" >&2; exit 1; }
lines=$(wc -l < "$tmp/psl.dat")
[ "$lines" -gt 10000 ] || { echo "error: only $lines lines; refusing" >&2; exit 1; }

cargo build --quiet --release
got=$(printf 'co.uk\nevil.co.uk\n' | target/release/edlforge convert --vendor plain --type domain --psl "$tmp/psl.dat" 2>/dev/null | grep -v '^#')
[ "$got" = "evil.co.uk" ] || { echo "error: the new list does not behave (got: $got)" >&2; exit 1; }

cp "$tmp/psl.dat" "$out"
echo "wrote $out: $(grep -m1 '^// VERSION:' "$out" || echo 'no VERSION line'), $lines lines" >&2
