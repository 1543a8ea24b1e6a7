#!/usr/bin/env bash
# End-to-end load: starts the release build of `examples/axum` on a free loopback port and
# drives it with wrk, `/health` (no auth) against `/me` (one reused HS256 token), in
# interleaved rounds. Prints requests/s per round, the medians and the ratio me/health
# (the issue's target is >= 0.9). Run from the crate root: bash benches/load.sh
#
# Exits non-zero if the server or wrk fails, if any response is not 2xx, on socket errors,
# or if the server does not exit 0 on SIGTERM. The ratio is reported, not enforced.
#
# Settings (environment): ROUNDS (3), DURATION (8s per wrk run), CONNECTIONS (32),
# WARMUP (2s per endpoint, discarded), PIN (1: wrk on CPU 0, server on CPU 1).
# Defaults: 2 x 2 s warm-up + 3 rounds x 2 endpoints x 8 s = 52 s of load.
#
# wrk runs one thread (-t1): on a 2-core machine that leaves the other core to the server.
# With PIN=1 that split is enforced with taskset, so the client and the server don't steal
# each other's core and the two endpoints are measured under the same conditions.
# 32 connections keep the server saturated: its per-request work is microseconds, so a
# handful of connections would leave it waiting on wrk.
# Traffic goes to 127.0.0.1 only.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-32}
WARMUP=${WARMUP:-2s}
PIN=${PIN:-1}

cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
    echo "wrk not found; installing it with apt-get" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2
fi

echo "building examples/axum (release)..." >&2
cargo build --quiet --release --example axum
bin=target/release/examples/axum

dir=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

server_cpu=() wrk_cpu=()
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    server_cpu=(taskset -c 1)
    wrk_cpu=(taskset -c 0)
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

# RUST_LOG=warn: the default filter logs every request, which would measure the logger.
RUST_LOG=warn PORT=$port "${server_cpu[@]}" "$bin" >"$dir/out" 2>"$dir/err" &
server_pid=$!
# kill -0 also succeeds on a zombie, so look at the process state.
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1; [[ $s != Z* ]]; }
token=
for _ in $(seq 100); do
    token=$(grep -m1 '^ey' "$dir/out" 2>/dev/null || true)
    [ -n "$token" ] && break
    alive "$server_pid" || break
    sleep 0.1
done
if [ -z "$token" ]; then
    echo "FAIL: examples/axum did not start" >&2
    cat "$dir/err" >&2
    exit 1
fi

# Both endpoints must answer 200 before they are measured.
for path in /health /me; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$base$path")
    if [ "$code" != 200 ]; then
        echo "FAIL: GET $path answered $code before the load" >&2
        exit 1
    fi
done

# One wrk run; prints its requests/s. It runs in a subshell ($(run ...)), so failures are
# recorded as lines in $dir/errors rather than in a variable.
touch "$dir/errors"
fail() { echo "FAIL: $*" >&2; echo "$*" >>"$dir/errors"; }
run() { # label, path, duration, [extra wrk args...]
    local label=$1 path=$2 duration=$3
    shift 3
    local out="$dir/wrk.$label"
    if ! timeout 60 "${wrk_cpu[@]}" wrk -t1 -c"$CONNECTIONS" -d"$duration" --latency "$@" \
        "$base$path" >"$out" 2>&1; then
        fail "wrk failed on $path"
        cat "$out" >&2
        echo 0
        return
    fi
    if grep -q -e 'Non-2xx or 3xx responses' -e 'Socket errors' "$out"; then
        fail "errors on $path ($label): $(grep -e 'Non-2xx or 3xx responses' -e 'Socket errors' "$out" | tr -s ' \n' ' ')"
    fi
    local rps
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    if [ -z "$rps" ]; then
        fail "no Requests/sec in wrk's output for $path"
        cat "$out" >&2
        rps=0
    fi
    echo "$rps"
}
p50() { awk '$1 == "50%" { print $2; exit }' "$dir/wrk.$1"; }

auth=(-H "Authorization: Bearer $token")
echo "warm-up: $WARMUP per endpoint (discarded)" >&2
run warm-health /health "$WARMUP" >/dev/null
run warm-me /me "$WARMUP" "${auth[@]}" >/dev/null

health=() me=()
printf '| round | /health req/s | /health p50 | /me req/s | /me p50 | me/health |\n'
printf '|---:|---:|---:|---:|---:|---:|\n'
for r in $(seq "$ROUNDS"); do
    h=$(run "health$r" /health "$DURATION")
    m=$(run "me$r" /me "$DURATION" "${auth[@]}")
    health+=("$h") me+=("$m")
    printf '| %d | %s | %s | %s | %s | %s |\n' "$r" "$h" "$(p50 "health$r")" "$m" "$(p50 "me$r")" \
        "$(awk -v m="$m" -v h="$h" 'BEGIN { if (h > 0) printf "%.3f", m / h; else print "n/a" }')"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mh=$(median "${health[@]}")
mm=$(median "${me[@]}")
ratio=$(awk -v m="$mm" -v h="$mh" 'BEGIN { if (h > 0) printf "%.3f", m / h; else print "n/a" }')
printf '| **median** | **%s** | | **%s** | | **%s** |\n' "$mh" "$mm" "$ratio"
echo
echo "wrk -t1 -c$CONNECTIONS -d$DURATION, $ROUNDS rounds, pinned: $([ ${#wrk_cpu[@]} -gt 0 ] && echo yes || echo no)"
echo "ratio /me / /health (medians): $ratio (target >= 0.9)"

# SIGTERM: the server must drain and exit 0 by itself, within 10 s (a watchdog kills it
# after that, which shows up as a non-zero status).
kill -TERM "$server_pid"
(
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    sleep 10 & nap=$!
    wait "$nap"
    kill -KILL "$server_pid" 2>/dev/null
) &
watchdog=$!
status=0
wait "$server_pid" || status=$?
server_pid=
kill "$watchdog" 2>/dev/null || true
wait "$watchdog" 2>/dev/null || true
if [ "$status" != 0 ]; then
    fail "server exited $status on SIGTERM (137: killed after 10 s)"
    cat "$dir/err" >&2
else
    echo "server exited 0 on SIGTERM"
fi

errors=$(wc -l <"$dir/errors")
if [ "$errors" -ne 0 ]; then
    echo "FAIL: $errors error(s)" >&2
    exit 1
fi
