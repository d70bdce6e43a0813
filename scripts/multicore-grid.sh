#!/usr/bin/env bash
# The many-core echo grid (monoio's shape: echo at 1/2/4/8/16 server threads, ringport against
# tokio multi-thread and monoio), for any Linux host with 2 x 16 CPUs or more; the servers get
# the first half of the CPUs, the load generators the second half (one per CPU).
#
#   scripts/multicore-grid.sh                  # threads 1 2 4 8 16 (as many as fit)
#   THREADS="1 4" CONNS=2000 SECS=10 scripts/multicore-grid.sh
#
# Each line: engine, threads, messages per second (sum over the load generators) and server CPU
# µs per message (the server's own getrusage over the window). The targets: ringport at 4
# threads >= 3.7x its 1-thread rate, at 16 threads >= 11x. 64-byte messages, one outstanding
# per connection; the load generators are the bench's own (raw io_uring, one per CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
"${CARGO:-cargo}" build --release -p ringport-bench
BIN=target/release/ringport-bench
NCPU=$(nproc)
HALF=$((NCPU / 2))
THREADS=${THREADS:-"1 2 4 8 16"}
CONNS=${CONNS:-1000}
WARMUP=${WARMUP:-2}
SECS=${SECS:-10}
ENGINES=${ENGINES:-"ringport-2t tokio-2t monoio-2t"}
LOADS=${LOADS:-$HALF}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

printf '%-12s %7s %14s %14s\n' engine threads msgs/s "CPU us/msg"
for engine in $ENGINES; do
  for n in $THREADS; do
    if [ "$n" -gt "$HALF" ]; then continue; fi
    fifo="$tmp/ctl.$engine.$n"
    mkfifo "$fifo"
    # The server reads the window marks from its stdin; the load generators write them.
    RINGPORT_BENCH_THREADS=$n taskset -c "0-$((n - 1))" \
      "$BIN" worker echo-server --engine "$engine" --max-secs $((WARMUP + SECS + 60)) \
      <"$fifo" >"$tmp/server.out" 2>"$tmp/server.err" &
    server=$!
    exec 9>"$fifo"
    for _ in $(seq 50); do
      grep -q '^LISTEN' "$tmp/server.out" 2>/dev/null && break
      sleep 0.1
    done
    port=$(sed -n 's/^LISTEN //p' "$tmp/server.out")
    pids=()
    for i in $(seq 0 $((LOADS - 1))); do
      taskset -c $((HALF + i)) "$BIN" worker echo-load --port "$port" \
        --conns $((CONNS / LOADS)) --warmup "$WARMUP" --secs "$SECS" \
        0>&9 >"$tmp/load.$i" 2>/dev/null &
      pids+=($!)
    done
    wait "${pids[@]}"
    exec 9>&-
    wait "$server" || true
    msgs=$(cat "$tmp"/load.* | sed -n 's/.* msgs=\([0-9]*\).*/\1/p' | paste -sd+ | bc)
    secs=$(sed -n 's/.* secs=\([0-9.]*\).*/\1/p' "$tmp/load.0")
    cpu=$(sed -n 's/.*cpu_s=\([0-9.]*\).*/\1/p' "$tmp/server.out")
    rate=$(echo "$msgs / $secs" | bc)
    us=$(echo "scale=3; ${cpu:-0} * 1000000 / $msgs" | bc)
    printf '%-12s %7s %14s %14s\n' "$engine" "$n" "$rate" "$us"
    rm -f "$fifo" "$tmp"/load.*
  done
done
