#!/usr/bin/env bash
# The production topology on one machine, with one command: redis-server, two
# examples/token_server instances sharing REDIS_URL and JWT_PRIVATE_KEY_FILE, and nginx in
# front (TLS with a CA made here, HTTP/2, login rate limit, body limit) on loopback. The
# instances trust nginx (TRUSTED_PROXIES=127.0.0.1) for X-Forwarded-For/-Proto/-Host.
#
#   deploy/local.sh                      # https://localhost:8443/
#   HTTPS_PORT=9443 STATE_DIR=/tmp/jwt deploy/local.sh
#
# Environment: HTTPS_PORT (default 8443), STATE_DIR (default a new temporary folder),
# PROFILE (debug, the default, or release). STATE_DIR receives redis.pid,
# token_server_a.pid, token_server_b.pid, nginx.pid, ca.pem (the CA that signed the server
# certificate for localhost and 127.0.0.1), the logs, and ports.env (the ports chosen).
# Prints "ready: https://localhost:$HTTPS_PORT/" once everything answers; Ctrl-C or
# SIGTERM stops everything (an instance that dies meanwhile is only reported: nginx sends
# its traffic to the other). To restart instance A by hand, run `$BINARY` with the
# variables in $STATE_DIR/token_server_a.env and write its pid to token_server_a.pid.
# nginx and redis-server are installed from Debian if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy_dir=$PWD/deploy

HTTPS_PORT=${HTTPS_PORT:-8443}
STATE_DIR=${STATE_DIR:-$(mktemp -d -t tower-jwt-auth-local.XXXXXX)}
PROFILE=${PROFILE:-debug}
mkdir -p "$STATE_DIR/nginx-tmp"
STATE_DIR=$(cd "$STATE_DIR" && pwd)

say() { printf '[local] %s\n' "$*" >&2; }

apt_install() { # package...
    command -v apt-get >/dev/null || { say "please install $*"; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    }
}
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_install nginx
command -v redis-server >/dev/null || apt_install redis-server
command -v openssl >/dev/null || apt_install openssl
command -v curl >/dev/null || apt_install curl
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

stopping=0
stop() {
    [ "$stopping" = 1 ] && return
    stopping=1
    set +e
    say "stopping"
    # nginx first (no new requests), then the instances (they drain), then Redis; each by
    # its pid file, which also finds an instance restarted by hand.
    local pids=()
    for name in nginx token_server_a token_server_b redis; do
        local pid
        pid=$(cat "$STATE_DIR/$name.pid" 2>/dev/null) || continue
        if [ "$name" = nginx ]; then kill -QUIT "$pid" 2>/dev/null; else kill -TERM "$pid" 2>/dev/null; fi
        pids+=("$pid")
    done
    # Graceful shutdown drains in-flight requests; give it up to 30 s.
    for _ in $(seq 300); do
        local alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    wait 2>/dev/null
    say "stopped"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

# --- certificates: a CA of our own, and a server certificate for localhost and 127.0.0.1
if [ ! -f "$STATE_DIR/server.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj "/CN=tower-jwt-auth local CA" -keyout "$STATE_DIR/ca.key" -out "$STATE_DIR/ca.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
        -keyout "$STATE_DIR/server.key" -out "$STATE_DIR/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' \
        >"$STATE_DIR/server.ext"
    openssl x509 -req -in "$STATE_DIR/server.csr" -CA "$STATE_DIR/ca.pem" -CAkey "$STATE_DIR/ca.key" \
        -CAcreateserial -days 30 -extfile "$STATE_DIR/server.ext" -out "$STATE_DIR/server.pem" 2>/dev/null
    chmod 600 "$STATE_DIR/ca.key" "$STATE_DIR/server.key"
fi
# The signing key both instances share, so that either verifies the other's tokens.
[ -f "$STATE_DIR/jwt.key" ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$STATE_DIR/jwt.key" 2>/dev/null

# --- the token server binary
if [ "$PROFILE" = release ]; then
    cargo build --quiet --release --example token_server
else
    cargo build --quiet --example token_server
fi
binary=${CARGO_TARGET_DIR:-target}/$PROFILE/examples/token_server
case $binary in /*) ;; *) binary=$PWD/$binary ;; esac # the .env files name it absolutely

redis_port=$(free_port)
port_a=$(free_port)
port_b=$(free_port)
printf 'REDIS_PORT=%s\nPORT_A=%s\nPORT_B=%s\nHTTPS_PORT=%s\n' \
    "$redis_port" "$port_a" "$port_b" "$HTTPS_PORT" >"$STATE_DIR/ports.env"

# --- Redis
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
    --dir "$STATE_DIR" >"$STATE_DIR/redis.log" 2>&1 &
echo $! >"$STATE_DIR/redis.pid"

# --- two instances, one service
start_instance() { # name port
    printf 'PORT=%s\nREDIS_URL=redis://127.0.0.1:%s/\nJWT_PRIVATE_KEY_FILE=%s\nJWT_ALGORITHM=ES256\nTRUSTED_PROXIES=127.0.0.1\nBINARY=%s\n' \
        "$2" "$redis_port" "$STATE_DIR/jwt.key" "$binary" >"$STATE_DIR/$1.env"
    PORT=$2 REDIS_URL="redis://127.0.0.1:$redis_port/" JWT_PRIVATE_KEY_FILE="$STATE_DIR/jwt.key" \
        JWT_ALGORITHM=ES256 TRUSTED_PROXIES=127.0.0.1 "$binary" >>"$STATE_DIR/$1.log" 2>&1 &
    echo $! >"$STATE_DIR/$1.pid"
}
start_instance token_server_a "$port_a"
start_instance token_server_b "$port_b"

# --- nginx
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root;" # local only: workers read STATE_DIR (mode 700)
sed -e "s|@USER_LINE@|$user_line|" -e "s|@STATE_DIR@|$STATE_DIR|g" -e "s|@DEPLOY_DIR@|$deploy_dir|g" \
    -e "s|@HTTPS_PORT@|$HTTPS_PORT|g" -e "s|@PORT_A@|$port_a|g" -e "s|@PORT_B@|$port_b|g" \
    "$deploy_dir/nginx.conf.template" >"$STATE_DIR/nginx.conf"
"$nginx_bin" -t -q -c "$STATE_DIR/nginx.conf" -p "$STATE_DIR" -e "$STATE_DIR/nginx-error.log"

wait_for() { # what url [curl options]
    local what=$1 url=$2; shift 2
    for _ in $(seq 300); do
        curl -s -o /dev/null "$@" "$url" && return 0
        sleep 0.1
    done
    say "$what did not come up; see $STATE_DIR"; exit 1
}
wait_for token_server_a "http://127.0.0.1:$port_a/.well-known/jwks.json"
wait_for token_server_b "http://127.0.0.1:$port_b/.well-known/jwks.json"

"$nginx_bin" -c "$STATE_DIR/nginx.conf" -p "$STATE_DIR" -e "$STATE_DIR/nginx-error.log" \
    -g 'daemon off;' &
# nginx writes its master's pid to nginx.pid itself (the `pid` directive).
wait_for nginx "https://localhost:$HTTPS_PORT/.well-known/jwks.json" --cacert "$STATE_DIR/ca.pem"

say "state in $STATE_DIR (ca.pem, *.pid, logs, ports.env)"
say "try: curl --cacert $STATE_DIR/ca.pem -X POST -H 'content-type: application/json' \\"
say "       -d '{\"username\":\"demo\",\"password\":\"demo-password\"}' https://localhost:$HTTPS_PORT/api/token/"
echo "ready: https://localhost:$HTTPS_PORT/"

# Until Ctrl-C or SIGTERM. A part that dies is reported, not avenged: with one instance
# down nginx sends everything to the other (that is the point of two), and a test may stop
# and restart an instance by its pid file.
declare -A reported=()
while true; do
    for name in redis token_server_a token_server_b nginx; do
        pid=$(cat "$STATE_DIR/$name.pid" 2>/dev/null || true)
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && [ -z "${reported[$name:$pid]:-}" ]; then
            say "$name (pid $pid) is not running"
            reported[$name:$pid]=1
        fi
    done
    sleep 1 &
    wait $! || true
done
