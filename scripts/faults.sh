#!/usr/bin/env bash
# Runs the library's and the HTTP crate's suites under the fault layer (RINGPORT_FAULTS, see
# crates/ringport/src/driver/faults.rs) on each backend, for a few fixed seeds and one random
# seed, printed. Only transient faults (errors=transient): a correct program hides them, so
# every test must pass as in a perfect world. The visible errors (ECONNRESET, EPIPE, ENOSPC,
# EMFILE) are covered by tests/driver_faults.rs, which builds its own faulty runtimes.
#
#   scripts/faults.sh                      # backends from RINGPORT_BACKENDS (default: uring poll)
#   FAULT_SEEDS="1 2 3" FAULT_RATE=0.05 scripts/faults.sh
#
# A failure prints the RINGPORT_FAULTS value that replays it. Per-kind counts of the faults
# injected are summed from RINGPORT_FAULTS_LOG at the end.
set -uo pipefail
cd "$(dirname "$0")/.."

backends=(${RINGPORT_BACKENDS:-uring poll})
random_seed=${FAULT_RANDOM_SEED:-$(( (RANDOM << 15) | RANDOM ))}
seeds=(${FAULT_SEEDS:-1 2 3} "$random_seed")
rate=${FAULT_RATE:-0.05}
crates=(${FAULT_CRATES:-ringport ringport-http})
per_run=${FAULT_TIMEOUT:-600}
echo "faults: seeds ${seeds[*]} (random one: $random_seed), rate $rate, backends ${backends[*]}"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
pkgs=()
for c in "${crates[@]}"; do pkgs+=(-p "$c"); done
# Build once, outside the per-run timeout (which is for the tests: a hang, not a slow build).
cargo test -q --no-run "${pkgs[@]}" || { echo "faults: the test build failed" >&2; exit 1; }
failed=0
runs=0
for backend in "${backends[@]}"; do
    for seed in "${seeds[@]}"; do
        value="seed=$seed,rate=$rate,errors=transient"
        runs=$((runs + 1))
        start=$(date +%s)
        out=$(RINGPORT_BACKEND=$backend RINGPORT_FAULTS=$value RINGPORT_FAULTS_LOG=$log \
            timeout "$per_run" cargo test -q --no-fail-fast "${pkgs[@]}" 2>&1)
        rc=$?
        secs=$(( $(date +%s) - start ))
        if [ $rc -eq 0 ]; then
            echo "faults: ok   RINGPORT_BACKEND=$backend RINGPORT_FAULTS=$value (${secs}s)"
        else
            failed=$((failed + 1))
            why="exit $rc"
            [ $rc -eq 124 ] && why="timed out after ${per_run}s (a hang)"
            echo "faults: FAIL RINGPORT_BACKEND=$backend RINGPORT_FAULTS=$value: $why" >&2
            echo "$out" | grep -E "panicked|^    [a-z_:]+$|FAILED|running for over" | head -40 >&2
            echo "faults: replay with RINGPORT_BACKEND=$backend RINGPORT_FAULTS=$value cargo test ${pkgs[*]}" >&2
        fi
    done
done

# Sum the per-runtime counts (one line per faulty runtime: seed=N kind=n ...).
awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); sum[kv[1]] += kv[2] } rts++ }
     END { printf "faults: %d runtimes; injected:", rts;
           n = split("eintr eagain econnreset epipe enospc emfile short delayed reordered cancel_lost", k, " ");
           for (i = 1; i <= n; i++) printf " %s=%d", k[i], sum[k[i]]; print "" }' "$log"
if [ $failed -ne 0 ]; then
    echo "faults: $failed of $runs runs failed" >&2
    exit 1
fi
echo "faults: all $runs runs passed"
