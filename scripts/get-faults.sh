#!/usr/bin/env bash
# `ringport get` under the fault layer at many seeds, every fault kind on (errors=all), against
# a local `ringport serve` (127.0.0.1 only; it stops by itself): each run must end with the
# right file and exit 0, or a clean one-line error and a non-zero exit; never a wrong file with
# exit 0, never a panic or a hang. After a clean error the same command is run again without
# faults: it must resume from the part file and journal to the right file (exit 0).
#
#   scripts/get-faults.sh [RINGPORT_BINARY]    # SEEDS=100 RATE=0.05 RINGPORT_BACKENDS="uring poll"
#
# SERVER_FAULTS=1 puts the server under faults too (seed + 1000). QUIET=1 prints only what
# went wrong (each with the command line that replays it) and the summary; the exit status is
# non-zero when anything went wrong.
set -uo pipefail
bin=$(realpath "${1:-target/release/ringport}")
seeds=${SEEDS:-100}
rate=${RATE:-0.05}
backends=(${RINGPORT_BACKENDS:-uring poll})
dir=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
mkdir -p "$dir/www"
head -c $((5 * 1024 * 1024 + 4321)) /dev/urandom > "$dir/www/big"
head -c 70000 /dev/urandom > "$dir/www/small"
start=$SECONDS
bad=0; ok=0; clean=0; resumed=0

# Starts the server for a backend; its lifetime is bounded by `timeout`, whatever happens here.
serve() {
    local backend=$1 faults=$2
    [ -n "$server" ] && { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; }
    : > "$dir/serve.out"
    RINGPORT_BACKEND=$backend RINGPORT_FAULTS=$faults RINGPORT_FAULTS_LOG=$dir/serverlog \
        timeout 1800 "$bin" serve -q --addr 127.0.0.1:0 "$dir/www" >"$dir/serve.out" 2>"$dir/serve.err" &
    server=$!
    for _ in $(seq 1 100); do
        port=$(grep -o "127.0.0.1:[0-9]*" "$dir/serve.err" | head -1 | cut -d: -f2)
        [ -n "$port" ] && return 0
        sleep 0.05
    done
    echo "get-faults: the server did not start" >&2; cat "$dir/serve.err" >&2; exit 1
}

for backend in "${backends[@]}"; do
    [ -n "${SERVER_FAULTS:-}" ] || serve "$backend" off
    for seed in $(seq 1 "$seeds"); do
        value="seed=$seed,rate=$rate"
        [ -n "${SERVER_FAULTS:-}" ] && serve "$backend" "seed=$((seed + 1000)),rate=$rate"
        # Segmented (4 connections, journal; on one loop and spread over two), and one
        # connection, for the big file; the small one.
        for what in big4 big4t2 big1 small; do
            case $what in
                big4) file=big; args=(-n 4) ;;
                big4t2) file=big; args=(-n 4 --threads 2) ;;
                big1) file=big; args=(-n 1) ;;
                small) file=small; args=() ;;
            esac
            out="$dir/out-$what"
            rm -f "$out" "$out".*
            cmd=(timeout 60 "$bin" get -q --retries 3 --read-timeout 5 --connect-timeout 5 "${args[@]}"
                 -o "$out" "http://127.0.0.1:$port/$file")
            RINGPORT_BACKEND=$backend RINGPORT_FAULTS=$value RINGPORT_FAULTS_LOG=$dir/log \
                "${cmd[@]}" >/dev/null 2>"$dir/err"
            rc=$?
            replay="RINGPORT_BACKEND=$backend RINGPORT_FAULTS=$value ringport get ${args[*]} (file $file)"
            if grep -q "panicked" "$dir/err" || [ $rc -ge 101 ]; then
                echo "get-faults: PANIC/HANG (rc $rc): $replay" >&2
                cat "$dir/err" >&2; bad=$((bad + 1)); continue
            fi
            if [ $rc -eq 0 ]; then
                if cmp -s "$out" "$dir/www/$file"; then ok=$((ok + 1)); else
                    echo "get-faults: WRONG file with exit 0: $replay" >&2; bad=$((bad + 1))
                fi
                continue
            fi
            msg=$(grep -v "fault layer on" "$dir/err")
            if [ -z "$msg" ]; then
                echo "get-faults: exit $rc with no message: $replay" >&2; bad=$((bad + 1)); continue
            fi
            clean=$((clean + 1))
            [ -n "${QUIET:-}" ] || echo "get-faults: clean error ($backend, $value, $what, exit $rc): $(echo "$msg" | head -1)"
            # The same command without faults resumes (or starts over) to the right file.
            RINGPORT_BACKEND=$backend "${cmd[@]}" >/dev/null 2>"$dir/err2"
            rc2=$?
            if [ $rc2 -eq 0 ] && cmp -s "$out" "$dir/www/$file"; then
                resumed=$((resumed + 1))
            elif [ -n "${SERVER_FAULTS:-}" ] && [ $rc2 -ne 0 ] && ! grep -q panicked "$dir/err2"; then
                resumed=$((resumed + 1)) # the faulty server may refuse again: a clean error is fine
            else
                echo "get-faults: the rerun without faults after a clean error gave exit $rc2 and $(cmp -s "$out" "$dir/www/$file" && echo "the right file" || echo "a WRONG or missing file"): $replay" >&2
                head -3 "$dir/err2" >&2; bad=$((bad + 1))
            fi
        done
    done
done
awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); sum[kv[1]] += kv[2] } rts++ }
     END { printf "get-faults: %d client runtimes; injected:", rts;
           n = split("eintr eagain econnreset epipe enospc emfile short delayed reordered cancel_lost", k, " ");
           for (i = 1; i <= n; i++) printf " %s=%d", k[i], sum[k[i]]; print "" }' "$dir/log"
echo "get-faults: $ok correct, $clean clean errors ($resumed resumed to the right file without faults), $bad wrong (seeds 1..$seeds, rate $rate, ${backends[*]}${SERVER_FAULTS:+, server under faults too}) in $((SECONDS - start)) s"
[ $bad -eq 0 ]
