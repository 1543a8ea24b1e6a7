#!/usr/bin/env bash
# The production topology, driven the way production traffic reaches it: deploy/local.sh
# starts redis-server, two token_server instances and nginx (TLS with its own CA, HTTP/2)
# on loopback; curl (verifying the CA) and wrk go through nginx. Checked: the token
# endpoints and a logout honoured by both instances, the login rate limit (429), the body
# limit (413), failover (instance A killed under load), a rolling restart (SIGTERM to A
# under load, then A back), Redis paused for 5 s under load; then throughput through nginx
# and straight to one instance, printed (timing is reported, never asserted).
# Needs nginx, redis-server, openssl, curl, wrk (scripts/test installs them).
# Run from the crate root: bash tests/interop/deploy.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

state=$(mktemp -d -t tower-jwt-auth-deploy.XXXXXX)
# shellcheck source=checks.sh
. tests/interop/checks.sh

local_pid=""
cleanup() {
    set +e
    if [ -n "$local_pid" ]; then
        kill -TERM "$local_pid" 2>/dev/null
        wait "$local_pid" 2>/dev/null
    fi
    # An instance this script restarted is its own child, not local.sh's.
    for pid in $(jobs -p); do kill -TERM "$pid" 2>/dev/null; done
    wait 2>/dev/null
    if [ "$failures" -ne 0 ]; then
        for log in local.err nginx-error.log token_server_a.log token_server_b.log; do
            echo "--- $log (last lines)"; tail -n 20 "$state/$log" 2>/dev/null
        done
    fi
    rm -rf "$state"
}
trap cleanup EXIT

# --- start the topology -----------------------------------------------------------------
# Login limits high enough for this script's own logins (nginx's limit is under test);
# the app's limits have tests of their own (tests/it/token_server.rs).
export DEMO_PASSWORD=s3cret LOGIN_IP_PER_MINUTE=600 LOGIN_IP_BURST=100 \
    LOGIN_USERNAME_PER_MINUTE=600 LOGIN_USERNAME_BURST=100 RUST_LOG=warn
https_port=$(port)
HTTPS_PORT=$https_port STATE_DIR=$state deploy/local.sh >"$state/local.out" 2>"$state/local.err" &
local_pid=$!
for _ in $(seq 600); do
    grep -q '^ready: ' "$state/local.out" 2>/dev/null && break
    kill -0 "$local_pid" 2>/dev/null || { cat "$state/local.err"; echo "FAIL deploy/local.sh exited"; exit 1; }
    sleep 0.1
done
expect "deploy/local.sh prints the https URL" "ready: https://localhost:$https_port/" "$(head -n1 "$state/local.out")"
for file in redis.pid token_server_a.pid token_server_b.pid nginx.pid ca.pem; do
    expect "STATE_DIR holds $file" yes "$([ -s "$state/$file" ] && echo yes)"
done
# shellcheck disable=SC1091
. "$state/ports.env"
base="https://localhost:$https_port"
ca=(--cacert "$state/ca.pem")

code() { curl -s "${ca[@]}" -o /dev/null -w '%{http_code}' "$@"; }
# POST a JSON body through nginx; the answer's body goes to $state/body.
post() { # path json [curl options]
    local path=$1 body=$2; shift 2
    curl -s "${ca[@]}" -o "$state/body" -w '%{http_code}' -X POST -H 'content-type: application/json' \
        -d "$body" "$@" "$base$path"
}
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$state/body" "$1"; }
login() { post /api/token/ '{"username":"demo","password":"s3cret"}'; }
me_direct() { # port token
    curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $2" "http://127.0.0.1:$1/api/me"
}
# Retries for up to 3 s until `command` prints `want` (pub/sub reaches the other instance
# within milliseconds; a loaded machine may take longer).
eventually() { # want command...
    local want=$1 got; shift
    for _ in $(seq 30); do
        got=$("$@")
        [ "$got" = "$want" ] && break
        sleep 0.1
    done
    echo "$got"
}

# --- through nginx: the token endpoints over TLS and HTTP/2 --------------------------------
expect "login through nginx over HTTP/2 is 200" "200 2" \
    "$(curl -s "${ca[@]}" --http2 -o "$state/body" -w '%{http_code} %{http_version}' -X POST \
        -H 'content-type: application/json' -d '{"username":"demo","password":"s3cret"}' "$base/api/token/")"
access=$(field access); refresh=$(field refresh)
curl -s "${ca[@]}" -D "$state/headers" -o /dev/null -X POST -H 'content-type: application/json' \
    -d '{"username":"demo","password":"wrong"}' "$base/api/token/"
header() { grep -i "^$1:" "$state/headers" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }
expect "the token endpoint's answer has Cache-Control: no-store" no-store "$(header cache-control)"
expect "and HSTS" max-age=63072000 "$(header strict-transport-security)"
curl -s "${ca[@]}" -D "$state/headers" -o "$state/body" -H "Authorization: Bearer $access" "$base/api/me"
expect "GET /api/me through nginx is 200" "200" "$(head -n1 "$state/headers" | cut -d' ' -f2)"
expect "GET /api/me answers the login's claims" demo \
    "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["registered"]["sub"])' "$state/body")"
expect "GET /api/me has X-Content-Type-Options: nosniff" nosniff "$(header x-content-type-options)"
expect "GET /api/me without a token is 401" 401 "$(code "$base/api/me")"
expect "instance A accepts the token issued through nginx" 200 "$(me_direct "$PORT_A" "$access")"
expect "instance B accepts it too" 200 "$(me_direct "$PORT_B" "$access")"

expect "refresh through nginx is 200" 200 "$(post /api/token/refresh/ "{\"refresh\":\"$refresh\"}")"
rotated_access=$(field access); rotated=$(field refresh)
expect "refresh rotated the refresh token" yes "$([ "$rotated" != "$refresh" ] && echo yes)"
expect "the rotated-out refresh token again is reuse: 401" 401 \
    "$(post /api/token/refresh/ "{\"refresh\":\"$refresh\"}")"
expect "the reuse revoked the session: its newest refresh token is 401" 401 \
    "$(post /api/token/refresh/ "{\"refresh\":\"$rotated\"}")"
expect "and its access token, on instance A" 401 "$(eventually 401 me_direct "$PORT_A" "$rotated_access")"
expect "and on instance B" 401 "$(eventually 401 me_direct "$PORT_B" "$rotated_access")"

expect "a new login is 200" 200 "$(login)"
access=$(field access)
expect "logout through nginx is 200" 200 \
    "$(code -X POST -H "Authorization: Bearer $access" "$base/api/logout/")"
expect "instance A refuses the logged-out token" 401 "$(eventually 401 me_direct "$PORT_A" "$access")"
expect "instance B refuses the logged-out token" 401 "$(eventually 401 me_direct "$PORT_B" "$access")"
expect "nginx refuses it (either instance)" 401 \
    "$(code -H "Authorization: Bearer $access" "$base/api/me")"

# --- the limits: body size, login rate -----------------------------------------------------
head -c $((8 * 1024 * 1024)) /dev/zero | tr '\0' a >"$state/big.json"
answer=$(curl -s "${ca[@]}" -o "$state/body" -w '%{http_code}' -X POST -H 'content-type: application/json' \
    --data-binary @"$state/big.json" "$base/api/token/")
expect "an 8 MiB body is refused with 413" 413 "$answer"
expect "by nginx, before an instance reads it" yes \
    "$(grep -q 'Request Entity Too Large' "$state/body" && echo yes)"

# 25 logins at once: nginx lets 1 + a burst of 10 through, then answers 429 itself.
pids=()
for i in $(seq 25); do
    curl -s "${ca[@]}" -D "$state/flood.$i.headers" -o "$state/flood.$i.body" -w '%{http_code}' \
        -X POST -H 'content-type: application/json' -d '{"username":"demo","password":"guess"}' \
        "$base/api/token/" >"$state/flood.$i.code" &
    pids+=($!)
done
wait "${pids[@]}"
throttled=0 refused=0 busy=0 other=0 bad_429=0
for i in $(seq 25); do
    case $(cat "$state/flood.$i.code") in
        429)
            throttled=$((throttled + 1))
            grep -qi $'^retry-after: 1\r$' "$state/flood.$i.headers" \
                && grep -q '"detail":"Request was throttled."' "$state/flood.$i.body" \
                || bad_429=$((bad_429 + 1)) ;;
        401) refused=$((refused + 1)) ;;
        # The instance's own answer when both of its hashing slots stayed busy for 500 ms
        # (the ~11 logins nginx lets through run Argon2 at once on two cores).
        503) if grep -qi '^retry-after: ' "$state/flood.$i.headers"; then busy=$((busy + 1)); else other=$((other + 1)); fi ;;
        *) other=$((other + 1)) ;;
    esac
done
echo "     25 logins at once: $refused × 401 (wrong password), $busy × 503 (hashing slots busy), $throttled × 429, $other other"
expect "the login flood meets nginx's limit (some 429)" yes "$([ "$throttled" -ge 1 ] && echo yes)"
expect "every 429 is nginx's, with Retry-After: 1" 0 "$bad_429"
expect "every other login got its 401 (or the instance's 503 with Retry-After)" 0 "$other"
sleep 3 # the login zone refills (5 a second)

# --- load: wrk through nginx -----------------------------------------------------------------
# wrk's summary: requests, non-2xx answers, socket errors (connect, read, write, timeout).
wrk_load() { # seconds url token output
    wrk -t2 -c8 -d"$1s" --timeout 5s --latency -H "Authorization: Bearer $3" "$2" >"$4" 2>&1
}
requests() { awk '/requests in/ {print $1}' "$1"; }
failed() { # non-2xx plus socket errors
    awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$1"
}
load_summary() { # name file
    echo "     $1: $(requests "$2") requests, $(failed "$2") failed, $(awk '/^ +99%/ {print "p99 " $2}' "$2"), $(awk '/Requests\/sec/ {print $2 " requests/s"}' "$2")"
}
start_a() {
    (set -a; . "$state/token_server_a.env"; set +a; exec "$BINARY") >>"$state/token_server_a.log" 2>&1 &
    echo $! >"$state/token_server_a.pid"
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$PORT_A/.well-known/jwks.json" && return 0
        sleep 0.1
    done
    expect "instance A answers within 10 s of its start" yes no
    exit 1 # the cleanup prints the logs
}

expect "a login for the load runs is 200" 200 "$(login)"
access=$(field access)

# Failover: instance A killed (SIGKILL) 3 s into 8 s of load.
wrk_load 8 "$base/api/me" "$access" "$state/failover.txt" &
load=$!
sleep 3
kill -KILL "$(cat "$state/token_server_a.pid")"
wait "$load"
load_summary "failover (A killed at 3 s)" "$state/failover.txt"
expect "failover: requests were sent" yes "$([ "$(requests "$state/failover.txt")" -gt 0 ] && echo yes)"
expect "failover: no request failed" 0 "$(failed "$state/failover.txt")"
after=0
for _ in $(seq 20); do
    [ "$(code -H "Authorization: Bearer $access" "$base/api/me")" = 200 ] && after=$((after + 1))
done
expect "failover: 20 later requests all 200 through B" 20 "$after"
expect "failover: a login (POST) goes to B" 200 "$(login)"

# Rolling restart: A back, then SIGTERM to A 4 s into 16 s of load, A started again at 9 s.
start_a
sleep 6 # nginx's fail_timeout (5 s) for A runs out
wrk_load 16 "$base/api/me" "$access" "$state/restart.txt" &
load=$!
sleep 4
a_pid=$(cat "$state/token_server_a.pid")
kill -TERM "$a_pid"
status=0
wait "$a_pid" || status=$?
expect "rolling restart: A drains and exits 0 on SIGTERM" 0 "$status"
sleep 3
start_a
lines_before=$(wc -l <"$state/nginx-access.log")
wait "$load"
load_summary "rolling restart (SIGTERM to A at 4 s, A back at ~9 s)" "$state/restart.txt"
expect "rolling restart: requests were sent" yes "$([ "$(requests "$state/restart.txt")" -gt 0 ] && echo yes)"
expect "rolling restart: no request failed" 0 "$(failed "$state/restart.txt")"
for _ in $(seq 20); do code -H "Authorization: Bearer $access" "$base/api/me" >/dev/null; done
a_answers=$(tail -n +"$((lines_before + 1))" "$state/nginx-access.log" \
    | grep -c " 200 upstream=127.0.0.1:$PORT_A " || true)
expect "rolling restart: A takes traffic again" yes "$([ "$a_answers" -gt 0 ] && echo yes)"
echo "     after A came back: $a_answers answers from A"

# Redis paused (SIGSTOP) for 5 s, 2 s into 12 s of load.
expect "a login before the Redis pause is 200" 200 "$(login)"
access=$(field access); refresh=$(field refresh)
redis_pid=$(cat "$state/redis.pid")
wrk_load 12 "$base/api/me" "$access" "$state/redis.txt" &
load=$!
sleep 2
kill -STOP "$redis_pid"
paused_at=$(date +%s.%N)
answer=$(curl -s "${ca[@]}" -o "$state/body" -w '%{http_code} %{time_total}' -m 10 -X POST \
    -H 'content-type: application/json' -d "{\"refresh\":\"$refresh\"}" "$base/api/token/refresh/")
expect "Redis paused: a refresh (a write) is 503" 503 "${answer%% *}"
expect "Redis paused: and answered within 3 s, not hanging" yes \
    "$(python3 -c 'import sys; print("yes" if float(sys.argv[1]) < 3 else sys.argv[1])' "${answer#* }")"
echo "     refresh during the pause: ${answer#* } s"
expect "Redis paused: a logout (a write) is 503" 503 \
    "$(code -m 10 -X POST -H "Authorization: Bearer $access" "$base/api/logout/")"
python3 -c 'import sys, time; time.sleep(max(0, 5 - (time.time() - float(sys.argv[1]))))' "$paused_at"
kill -CONT "$redis_pid"
wait "$load"
load_summary "Redis paused 5 s at 2 s" "$state/redis.txt"
expect "Redis paused: reads (/api/me) never failed" 0 "$(failed "$state/redis.txt")"
max_latency=$(awk '/Latency/ && !/Distribution/ {print $4}' "$state/redis.txt")
expect "Redis paused: no read hung (the slowest under 1 s)" yes \
    "$(python3 -c '
import re, sys
m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", sys.argv[1])
scale = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}
print("yes" if m and float(m[1]) * scale[m[2]] < 1 else sys.argv[1])' "$max_latency")"
echo "     slowest read under the pause: $max_latency"
expect "after the pause: a login is 200" 200 "$(eventually 200 login)"
fresh_refresh=$(field refresh)
expect "after the pause: a refresh (a write) is 200" 200 \
    "$(post /api/token/refresh/ "{\"refresh\":\"$fresh_refresh\"}")"

# --- throughput: /api/me through nginx (TLS) and straight to one instance ---------------------
expect "a login for the measurement is 200" 200 "$(login)"
access=$(field access)
wrk_load 10 "$base/api/me" "$access" "$state/through.txt"
wrk_load 10 "http://127.0.0.1:$PORT_B/api/me" "$access" "$state/direct.txt"
load_summary "GET /api/me through nginx (TLS, both instances)" "$state/through.txt"
load_summary "GET /api/me straight to instance B (plain HTTP)" "$state/direct.txt"
expect "measurement: no request failed through nginx" 0 "$(failed "$state/through.txt")"
expect "measurement: no request failed straight to B" 0 "$(failed "$state/direct.txt")"

summary deploy
