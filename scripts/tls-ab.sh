#!/usr/bin/env bash
# Interleaved TLS echo runs of several server builds against one load generator, for A/B
# comparisons the `tls` bench case does not make (an older commit's build, a setting):
#
#   scripts/tls-ab.sh LABEL:BENCH_BINARY:ENGINE [ENV=VALUE] ...
#   ROUNDS=4 scripts/tls-ab.sh old:/tmp/old/target/release/ringport-bench:ringport \
#       new:target/release/ringport-bench:ringport tokio:target/release/ringport-bench:tokio
#
# Server on CPU 0, load generator (this checkout's build) on CPU 1, 2 GiB per run (MIB to
# change it). Prints MB/s, server CPU-s per GiB and the server's read count per run.
# Run `cargo run --release -p ringport-bench -- tls` once first (it makes the certificate).
set -euo pipefail
cd "$(dirname "$0")/.."
load_bin=target/release/ringport-bench
dir=target/bench-data/tls
bytes=$(( ${MIB:-2048} << 20 ))
[[ -f $dir/cert.pem ]] || { echo "tls-ab: no $dir/cert.pem: run the tls bench case once" >&2; exit 1; }

one() { # label binary engine [env...]
    local label=$1 bin=$2 engine=$3
    shift 3
    local fifo
    fifo=$(mktemp -u)
    mkfifo "$fifo"
    env "$@" taskset -c 0 "$bin" worker tls-server --engine "$engine" \
        --cert "$dir/cert.pem" --key "$dir/key.pem" >"$fifo" 2>/dev/null &
    exec 4<"$fifo"
    local line
    read -r line <&4
    local load srv
    load=$(taskset -c 1 "$load_bin" worker tls-load --port "${line#LISTEN }" --bytes "$bytes" \
        --cert "$dir/cert.pem")
    srv=$(cat <&4)
    wait
    exec 4<&-
    rm -f "$fifo"
    local secs cpu reads
    secs=$(sed -n 's/.* secs=\([0-9.]*\).*/\1/p' <<<"$load")
    cpu=$(sed -n 's/.*cpu_s=\([0-9.]*\).*/\1/p' <<<"$srv")
    reads=$(sed -n 's/.*reads=\([0-9]*\).*/\1/p' <<<"$srv")
    awk -v l="$label" -v b="$bytes" -v s="$secs" -v c="$cpu" -v r="$reads" 'BEGIN {
        printf "%-10s %8.0f MB/s  %.3f CPU-s/GiB  %s reads\n", l, b / s / 1e6, c / (b / 2^30), r }'
}

for _ in $(seq 1 "${ROUNDS:-3}"); do
    for spec in "$@"; do
        IFS=: read -r label bin engine extra <<<"$spec"
        # shellcheck disable=SC2086 # extra holds ENV=VALUE words
        one "$label" "$bin" "$engine" ${extra:-RINGPORT_AB=1}
    done
done
