#!/usr/bin/env bash
# Builds the library's tests for x86_64-pc-windows-gnu and runs them under Wine (the IOCP
# backend). Needs gcc-mingw-w64-x86-64 and wine64 (.ci/run installs them) and the rustup
# target. Extra arguments go to `cargo test` (e.g. a test filter after `--`).
# CARGO may name a wrapper (CARGO=/work/bin/xcargo to build under a lock).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo=${CARGO:-cargo}
target=x86_64-pc-windows-gnu

runner=$(command -v wine64 || command -v wine || true)
[[ -z $runner && -x /usr/lib/wine/wine64 ]] && runner=/usr/lib/wine/wine64
if [[ -z $runner ]]; then
    echo "wine-test: no wine64 found" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ringport-wine.XXXXXX")
cleanup() {
    exec 3>&- || true
    WINEPREFIX=$work/prefix wineserver -k 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/shim"
x86_64-w64-mingw32-gcc -O2 -shared -s -o "$work/shim/bcryptprimitives.dll" \
    scripts/wine/bcryptprimitives.c -ladvapi32

export WINEPREFIX=$work/prefix WINEDEBUG=-all WINEPATH=$work/shim
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=$runner
# Windows has one backend; a RINGPORT_BACKEND=uring|poll left from a Linux run would refuse it.
export RINGPORT_BACKEND=iocp
# Create the prefix up front (about 5 s), and keep one Wine program open (a `cmd` reading a
# FIFO that this script holds open until it exits) so each test binary starts warm (17-50 ms
# instead of about 0.8 s).
"$runner" cmd /c exit >/dev/null 2>&1 || true
mkfifo "$work/hold"
"$runner" cmd <"$work/hold" >/dev/null 2>&1 &
exec 3>"$work/hold"

"$cargo" test -p ringport --target "$target" "$@"
