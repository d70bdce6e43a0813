#!/usr/bin/env bash
# Runs each cargo-fuzz target of crates/ringport-http/fuzz for FUZZ_SECONDS (default 20) from
# its seed corpus (seeds/<target>, in git) plus the local corpus (corpus/<target>, ignored),
# and prints the executions per target. A crash or failed assertion fails the script and
# names the artifact (crates/ringport-http/fuzz/artifacts/<target>/) that reproduces it:
#   cargo +nightly fuzz run <target> <artifact>
# Needs a nightly toolchain and cargo-fuzz; without them it says so and exits 0 (SKIPPED),
# unless FUZZ_REQUIRED=1.
#
#   scripts/fuzz.sh [TARGET...]     # FUZZ_SECONDS=20
set -uo pipefail
cd "$(dirname "$0")/../crates/ringport-http/fuzz"
secs=${FUZZ_SECONDS:-20}
skip() {
    echo "fuzz: SKIPPED: $1" >&2
    [ -n "${FUZZ_REQUIRED:-}" ] && exit 1
    exit 0
}
rustup toolchain list 2>/dev/null | grep -q '^nightly' || skip "no nightly toolchain (cargo-fuzz needs one)"
cargo fuzz --version >/dev/null 2>&1 || skip "cargo-fuzz is not installed (cargo install cargo-fuzz)"
targets=("$@")
((${#targets[@]})) || targets=($(cargo +nightly fuzz list))
echo "fuzz: building ${targets[*]}"
cargo +nightly fuzz build -O >/dev/null 2>"$PWD/build.log" || { cat build.log >&2; rm -f build.log; echo "fuzz: the build failed" >&2; exit 1; }
rm -f build.log
failed=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    start=$SECONDS
    log=$(cargo +nightly fuzz run -O "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$secs" \
        -print_final_stats=1 2>&1)
    rc=$?
    runs=$(grep -o '^Done [0-9]* runs' <<<"$log" | awk '{ print $2 }')
    cov=$(grep '^#[0-9]*.*DONE' <<<"$log" | grep -o 'cov: [0-9]*' | head -1)
    if [ $rc -eq 0 ]; then
        echo "fuzz: $t: ${runs:-?} executions in $((SECONDS - start)) s ($cov), no crash"
    else
        failed=$((failed + 1))
        echo "fuzz: $t: FAILED (exit $rc):" >&2
        grep -E "panicked|assertion|ERROR|SUMMARY|artifact_prefix|Test unit written" <<<"$log" | head -20 >&2
    fi
done
[ $failed -eq 0 ] || { echo "fuzz: $failed target(s) failed" >&2; exit 1; }
