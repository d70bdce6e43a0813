#!/usr/bin/env bash
# `ringport copy` under the fault layer at many seeds, every fault kind on (errors=all): each
# run must end with a correct copy and exit 0, or a clean one-line error and a non-zero exit;
# never a wrong file with exit 0, never a panic.
#
#   scripts/copy-faults.sh [RINGPORT_BINARY]     # SEEDS=100 RATE=0.05 RINGPORT_BACKENDS="uring poll"
#
# QUIET=1 prints only what went wrong (each with the RINGPORT_FAULTS value that replays it)
# and the summary; the exit status is non-zero when anything went wrong.
set -uo pipefail
bin=${1:-target/release/ringport}
seeds=${SEEDS:-100}
rate=${RATE:-0.05}
backends=(${RINGPORT_BACKENDS:-uring poll})
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
head -c $((3 * 1024 * 1024 + 777)) /dev/urandom > "$dir/src"
mkdir -p "$dir/tree/a/b"
for i in $(seq 1 20); do head -c $((i * 5000)) /dev/urandom > "$dir/tree/a/f$i"; done
head -c 100000 /dev/urandom > "$dir/tree/a/b/deep"
want=$(sha256sum < "$dir/src")
bad=0; ok=0; clean=0; start=$SECONDS
for backend in "${backends[@]}"; do
    for seed in $(seq 1 "$seeds"); do
        value="seed=$seed,rate=$rate"
        rm -rf "$dir/dst" "$dir/dtree" "$dir/err"
        # auto (copy_file_range: its calls run on the blocking pool, so only the opens see
        # faults), buffered (positional reads and writes: short, EINTR, ENOSPC, delays),
        # splice, a tree, standard input (stream reads) and standard output.
        for what in file buffered splice tree stdin stdout; do
            rm -f "$dir/dst"
            run() {
                RINGPORT_BACKEND=$backend RINGPORT_FAULTS=$value RINGPORT_FAULTS_LOG=$dir/log \
                    timeout 60 "$bin" copy "$@" 2>"$dir/err"
            }
            case $what in
                file) run "$dir/src" "$dir/dst" >/dev/null ;;
                buffered) run --method buffered --block-size 64K --depth 8 "$dir/src" "$dir/dst" >/dev/null ;;
                splice) run --method splice "$dir/src" "$dir/dst" >/dev/null ;;
                tree) run -r "$dir/tree" "$dir/dtree" >/dev/null ;;
                stdin) run - "$dir/dst" <"$dir/src" >/dev/null ;;
                stdout) run "$dir/src" - >"$dir/dst" ;;
            esac
            rc=$?
            if grep -q "panicked" "$dir/err" || [ $rc -ge 101 ]; then
                echo "copy-faults: PANIC/HANG ($what, rc $rc) RINGPORT_BACKEND=$backend RINGPORT_FAULTS=$value" >&2
                cat "$dir/err" >&2; bad=$((bad + 1)); continue
            fi
            if [ $rc -eq 0 ]; then
                if [ $what = tree ]; then
                    same=$(diff -r "$dir/tree" "$dir/dtree" >/dev/null && echo y)
                else
                    same=$([ "$(sha256sum < "$dir/dst")" = "$want" ] && echo y)
                fi
                if [ "$same" = y ]; then ok=$((ok + 1)); else
                    echo "copy-faults: WRONG $what with exit 0: RINGPORT_BACKEND=$backend RINGPORT_FAULTS=$value" >&2
                    bad=$((bad + 1))
                fi
            else
                msg=$(grep -v "fault layer on" "$dir/err")
                if [ -z "$msg" ]; then
                    echo "copy-faults: exit $rc with no message ($what): RINGPORT_BACKEND=$backend RINGPORT_FAULTS=$value" >&2; bad=$((bad + 1))
                else
                    clean=$((clean + 1))
                    [ -n "${QUIET:-}" ] || echo "copy-faults: clean error ($what, $backend, $value): $(echo "$msg" | head -1)"
                fi
            fi
        done
    done
done
awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); sum[kv[1]] += kv[2] } rts++ }
     END { printf "copy-faults: %d runtimes; injected:", rts;
           n = split("eintr eagain econnreset epipe enospc emfile short delayed reordered cancel_lost", k, " ");
           for (i = 1; i <= n; i++) printf " %s=%d", k[i], sum[k[i]]; print "" }' "$dir/log"
echo "copy-faults: $ok correct, $clean clean errors, $bad wrong (seeds 1..$seeds, rate $rate, ${backends[*]}) in $((SECONDS - start)) s"
[ $bad -eq 0 ]
