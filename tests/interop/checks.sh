# What the interop scripts share, sourced by examples.sh and deploy.sh: counted checks and
# free loopback ports. The script ends with `summary NAME`, which prints the closing line
# and fails when any check did.
failures=0
passes=0

expect() { # name, expected, actual
    if [ "$2" = "$3" ]; then
        passes=$((passes + 1)); echo "ok   $1"
    else
        failures=$((failures + 1)); echo "FAIL $1: expected [$2], got [$3]"
    fi
}

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

summary() { # name
    echo "$1: $passes passed, $failures failed"
    [ "$failures" -eq 0 ]
}
