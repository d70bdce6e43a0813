#!/usr/bin/env bash
# `ringport serve --threads 1` against `--threads 2`, every loop pinned to CPU 0 and wrk on CPU 1:
# the multi-loop machinery's cost in server CPU per request (issue 13: at most 5 %), not
# scaling (both loops share one core). Three interleaved rounds of 8 s, a 13-byte file.
#   scripts/serve-threads-overhead.sh [RINGPORT_BINARY]     (build with cargo build --release)
set -u
bin=${1:-target/release/ringport}
dir=$(mktemp -d); printf 'hello, world\n' > $dir/small.txt
for round in 1 2 3; do
for t in 1 2; do
  port=$((18000 + t + round*10))
  taskset -c 0 $bin serve $dir --addr 127.0.0.1:$port --quiet --threads $t >/dev/null 2>&1 &
  pid=$!; sleep 0.5
  ticks0=$(awk '{print $14+$15}' /proc/$pid/stat)
  out=$(taskset -c 1 wrk -t1 -c100 -d8s http://127.0.0.1:$port/small.txt)
  ticks1=$(awk '{print $14+$15}' /proc/$pid/stat)
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  kill -INT $pid; wait $pid 2>/dev/null
  hz=$(getconf CLK_TCK)
  echo "round $round threads $t: $reqs requests, $(( (ticks1-ticks0) ))/$hz CPU-s, $(echo "scale=3; ($ticks1-$ticks0)/$hz*1000000/$reqs" | bc) us/request, $(echo "$reqs/8" | bc) req/s"
done; done
rm -rf $dir
