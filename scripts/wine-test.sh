#!/usr/bin/env bash
# Builds the tests of ringport, ringport-http, ringport-tls and ringport-cli for
# x86_64-pc-windows-gnu and runs them under Wine (the IOCP
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
# Test binaries run through a wrapper: Wine can fail to start a program, which then exits 1
# before the test harness prints a line (seen once, 2026-12-03, a test binary that then passed
# 30 runs of 30). Such a run
# (non-zero exit and no "running N tests" line) is tried once more and said so on stderr; a
# harness that started and then failed is never retried.
cat >"$work/run" <<WRAP
#!/usr/bin/env bash
out=\$(mktemp "$work/out.XXXXXX")
"$runner" "\$@" >"\$out"; rc=\$?
if [[ \$rc -ne 0 ]] && ! grep -qE '^running [0-9]+ tests?\$' "\$out"; then
    echo "wine-test: \${1##*/} exited \$rc before its test harness started (a Wine start-up failure): running it once more" >&2
    "$runner" "\$@" >"\$out"; rc=\$?
fi
cat "\$out"; rm -f "\$out"
exit \$rc
WRAP
chmod +x "$work/run"
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=$work/run
# Windows has one backend; a RINGPORT_BACKEND=uring|poll left from a Linux run would refuse it.
export RINGPORT_BACKEND=iocp
# Create the prefix up front (about 5 s), and keep one Wine program open (a `cmd` reading a
# FIFO that this script holds open until it exits) so each test binary starts warm (17-50 ms
# instead of about 0.8 s).
"$runner" cmd /c exit >/dev/null 2>&1 || true
mkfifo "$work/hold"
"$runner" cmd <"$work/hold" >/dev/null 2>&1 &
exec 3>"$work/hold"

# Wine 8's CreateSymbolicLinkW reports success and makes nothing, so the links the CLI's
# confinement test needs are made here, on the Unix side (Wine follows them as Windows would).
links=$work/links
mkdir -p "$links/www/sub" "$links/outside"
echo -n hello >"$links/www/a.txt"
echo -n inner >"$links/www/sub/b.txt"
echo -n secret >"$links/outside/secret.txt"
ln -s a.txt "$links/www/inside.txt"
ln -s ../outside/secret.txt "$links/www/escape.txt"
ln -s ../outside "$links/www/outdir"
ln -s sub "$links/www/subdir"
export RINGPORT_WINE_LINKS="Z:${links//\//\\}"

# The library, the HTTP crate, TLS and the command (each crate's own list of what it skips
# under Wine, with the reason, is printed by the tests and kept in ARCHITECTURE.md).
"$cargo" test --target "$target" ${WINE_PACKAGES:--p ringport -p ringport-http -p ringport-tls -p ringport-cli} "$@"
