#!/usr/bin/env bash
# Soak: `ringport serve` (127.0.0.1 only, stopped by `timeout` whatever happens) for N minutes
# under wrk (keep-alive GETs) while scripts/soak.py runs clients that verify whole files and
# ranges, clients that abort mid-response (half with a reset), slowloris clients (one header
# byte a second: each must be closed within the header timeout), and 10,000 connections opened
# and dropped. The server's RSS and open fds are sampled twice a second and must stay within
# bounds; no panic; every complete response
# correct; wrong responses from wrk (non-2xx) fail the run. At the end its sockets must come
# back to the idle server's (the listener) and its fds to the idle count plus its bounded
# caches (open files, splice pipes).
#
#   scripts/soak.sh [RINGPORT_BINARY]   # MINUTES=5 (or SOAK_SECONDS=45 for CI), RINGPORT_BACKEND,
#                                       # RSS_BOUND_MIB=256 FD_BOUND=1024 CHURN=10000 SLOW=100
#                                       # FAULTS=seed=7,rate=0.02,errors=transient: the server
#                                       # under the fault layer (transient faults only: every
#                                       # response must still be right)
set -uo pipefail
bin=$(realpath "${1:-target/release/ringport}")
secs=${SOAK_SECONDS:-$(( ${MINUTES:-5} * 60 ))}
rss_bound=$(( ${RSS_BOUND_MIB:-256} * 1024 ))
fd_bound=${FD_BOUND:-1024}
backend=${RINGPORT_BACKEND:-uring}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
mkdir -p "$dir/www"
head -c 1000 /dev/urandom > "$dir/www/small"
head -c 200000 /dev/urandom > "$dir/www/mid"
head -c $((3 * 1024 * 1024)) /dev/urandom > "$dir/www/big"

faults=${FAULTS:-}
RINGPORT_BACKEND=$backend RINGPORT_FAULTS=$faults timeout $((secs + 120)) "$bin" serve -q \
    --addr 127.0.0.1:0 "$dir/www" >"$dir/serve.out" 2>"$dir/serve.err" &
server=$!
port=
for _ in $(seq 1 100); do
    port=$(grep -o "127.0.0.1:[0-9]*" "$dir/serve.err" | head -1 | cut -d: -f2)
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || { echo "soak: the server did not start" >&2; cat "$dir/serve.err" >&2; exit 1; }
echo "soak: RINGPORT_BACKEND=$backend${faults:+ RINGPORT_FAULTS=$faults} ringport serve on 127.0.0.1:$port for $secs s (pid $server)"

# The server's own pid (timeout forks it).
pid=$(pgrep -P "$server" -x ringport || echo "$server")
# The idle server's fds, before any client (wrk's connections included): where they must
# come back to at the end.
idle_fds=$(ls "/proc/$pid/fd" | wc -l)
idle_socks=$(for f in /proc/$pid/fd/*; do readlink "$f"; done | grep -c '^socket:')
wrk -t1 -c32 -d"${secs}s" "http://127.0.0.1:$port/mid" >"$dir/wrk.out" 2>&1 &
wrk_pid=$!
python3 "$here/soak.py" --port "$port" --pid "$pid" --dir "$dir/www" --duration "$secs" \
    --slow "${SLOW:-100}" --churn "${CHURN:-10000}" --baseline-fds "$idle_fds" --baseline-socks "$idle_socks" >"$dir/soak.json" 2>"$dir/soak.err"
py_rc=$?
wait $wrk_pid
bad=0
cat "$dir/soak.err" >&2
[ $py_rc -eq 0 ] || bad=1
json=$(cat "$dir/soak.json")
echo "soak: $json"
reqs=$(awk '/requests in/ { print $1 }' "$dir/wrk.out")
non2xx=$(awk '/Non-2xx/ { print $NF }' "$dir/wrk.out")
echo "soak: wrk: ${reqs:-0} requests, $(grep -E 'Requests/sec|Socket errors|Non-2xx' "$dir/wrk.out" | tr -s ' ' | tr '\n' ';')"
[ -n "$reqs" ] && [ "$reqs" -gt 0 ] || { echo "soak: wrk made no request" >&2; bad=1; }
[ -z "$non2xx" ] || { echo "soak: wrk got $non2xx non-2xx responses" >&2; bad=1; }
if [ -n "$json" ]; then
    rss_max=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["rss_kib_max"])' "$json")
    fds_max=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["fds_max"])' "$json")
    [ "$rss_max" -le "$rss_bound" ] || { echo "soak: RSS reached $rss_max KiB (bound $rss_bound)" >&2; bad=1; }
    [ "$fds_max" -le "$fd_bound" ] || { echo "soak: open fds reached $fds_max (bound $fd_bound)" >&2; bad=1; }
fi
kill -0 "$server" 2>/dev/null || { echo "soak: the server died" >&2; bad=1; }
if grep -q panicked "$dir/serve.err"; then
    echo "soak: the server panicked:" >&2; grep -A3 panicked "$dir/serve.err" >&2; bad=1
fi
[ $bad -eq 0 ] && echo "soak: passed ($secs s, RINGPORT_BACKEND=$backend${faults:+, RINGPORT_FAULTS=$faults})" \
    || echo "soak: FAILED${faults:+ (replay: FAULTS=$faults)}" >&2
exit $bad
