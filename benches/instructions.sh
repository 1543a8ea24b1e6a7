#!/usr/bin/env bash
# Instructions per token check, ours (cold: the cache off; all-miss: the cache on, every
# token new; warm: the cache on, the same token) against raw jsonwebtoken::decode, counted
# with valgrind's callgrind: each case runs twice with a different number of checks and the
# difference is divided by the difference, so start-up, minting the tokens (whose ECDSA and
# RSA signing is randomised) and key set-up drop out. Installs valgrind if missing.
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
printf '| algorithm | raw decode | ours, cold | cold / raw | ours, all-miss | all-miss / cold | ours, warm |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n'
for alg in hs256 rs256 es256 eddsa; do
    per() { # who [low high]: hits are cheap, so warm runs many more
        local low=${2:-200} high=${3:-600}
        echo $(( ($(count "$1" "$alg" "$high") - $(count "$1" "$alg" "$low")) / (high - low) ))
    }
    raw=$(per raw); ours=$(per ours); miss=$(per miss); warm=$(per warm 20000 60000)
    printf '| %s | %s | %s | %s× | %s | %s× | %s |\n' "$alg" "$raw" "$ours" \
        "$(python3 -c "print(f'{$ours / $raw:.3f}')")" "$miss" \
        "$(python3 -c "print(f'{$miss / $ours:.3f}')")" "$warm"
done
