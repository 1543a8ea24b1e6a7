#!/usr/bin/env bash
# Instructions per token check, ours (cold: the cache off) against raw jsonwebtoken::decode,
# counted with valgrind's callgrind: each case runs 200 and 600 checks and the difference
# is divided by 400, so start-up and key set-up drop out. Installs valgrind if missing.
#
#   bash benches/instructions.sh        # from the crate root
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
bin=$(cargo bench --bench instructions --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "instructions" and m.get("executable"):
        print(m["executable"])')
count() { # who alg checks
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" "$3" 2>&1 \
        | awk '/Collected/ {print $4}'
}
printf '| algorithm | raw decode | ours, cold | cold / raw | ours, warm |\n| --- | ---: | ---: | ---: | ---: |\n'
for alg in hs256 rs256 es256 eddsa; do
    per() { echo $(( ($(count "$1" "$alg" 600) - $(count "$1" "$alg" 200)) / 400 )); }
    raw=$(per raw); ours=$(per ours); warm=$(per warm)
    printf '| %s | %s | %s | %s× | %s |\n' "$alg" "$raw" "$ours" \
        "$(python3 -c "print(f'{$ours / $raw:.3f}')")" "$warm"
done
