#!/usr/bin/env bash
# Screenshots of `ringport serve`'s directory listing in headless Chromium, light and dark, and
# on a phone-sized window: the look is checked by a person, not by a test.
#   scripts/listing-screenshot.sh [OUT_DIR]   (default: a new temp dir; needs `chromium`)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d)}
mkdir -p "$out"
/work/bin/xcargo build --release -p ringport-cli 2>/dev/null || cargo build --release -p ringport-cli
demo=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$demo"' EXIT
mkdir -p "$demo"/{src,docs,images,"My Folder"}
echo 'fn main() {}' > "$demo/src/main.rs"
head -c 123456 /dev/urandom > "$demo/images/photo.jpg"
head -c 5300000 /dev/urandom > "$demo/archive.tar.gz"
head -c 2048 /dev/urandom > "$demo/data (copy).bin"
echo "# readme" > "$demo/README.md"; echo MIT > "$demo/LICENSE"; echo '[package]' > "$demo/Cargo.toml"
for i in 1 2 10 20; do echo "$i" > "$demo/chapter$i.txt"; done
echo SECRET > "$demo/.env"                    # hidden: not listed
ln -s chapter1.txt "$demo/link-to-chapter1.txt" # inside the root: listed
ln -s /etc/passwd "$demo/escaping-link"         # leaves the root: not listed
ln -s nowhere "$demo/dangling"                  # dangling: not listed
mkfifo "$demo/fifo"                             # never served: not listed
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/release/ringport serve "$demo" --addr "127.0.0.1:$port" --quiet &
server=$!
sleep 0.5
shot() { timeout 60 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars "$@" 2>/dev/null; }
shot --window-size=1000,760 --screenshot="$out/listing-light.png" "http://127.0.0.1:$port/"
shot --blink-settings=preferredColorScheme=0 --window-size=1000,760 \
    --screenshot="$out/listing-dark.png" "http://127.0.0.1:$port/"
shot --window-size=390,700 --screenshot="$out/listing-phone.png" "http://127.0.0.1:$port/images/"
echo "screenshots in $out"
