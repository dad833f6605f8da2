#!/usr/bin/env bash
# Build the Debian package (cargo-deb, [package.metadata.deb] in Cargo.toml) from a binary that
# is already built, so packaging never compiles:
#
#   scripts/build-deb.sh [BINARY] [OUTPUT.deb]
#
# BINARY defaults to target/release/elt-console; the release workflow passes its target's.
# Stages under target/deb-assets what the package ships besides the binary: the man pages and
# shell completions that binary generates (so they match it), and the watch unit with
# ExecStart pointed at /usr/bin, where the package puts the binary.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$(realpath "${1:-$ROOT/target/release/elt-console}")
OUT=${2:-}
STAGE=$ROOT/target/deb-assets
UNIT=$ROOT/assets/systemd/elt-console-watch.service

[[ -x $BIN ]] || { echo "build-deb: no binary at $BIN (build it first)" >&2; exit 1; }
command -v cargo-deb >/dev/null ||
  { echo "build-deb: cargo-deb is not installed (scripts/testenv.sh up, or: cargo install cargo-deb --locked)" >&2; exit 1; }

rm -rf "$STAGE"
mkdir -p "$STAGE/man" "$STAGE/completions"
install -m 0755 "$BIN" "$STAGE/elt-console"
"$BIN" man --dir "$STAGE/man" >/dev/null
gzip -9n "$STAGE"/man/*.1
"$BIN" completions bash >"$STAGE/completions/elt-console.bash"
"$BIN" completions zsh >"$STAGE/completions/_elt-console"
"$BIN" completions fish >"$STAGE/completions/elt-console.fish"
grep -Eq '^ExecStart=/usr/local/bin/elt-console ' "$UNIT" ||
  { echo "build-deb: $UNIT: ExecStart is not /usr/local/bin/elt-console …; update this script" >&2; exit 1; }
sed -E 's#^ExecStart=/usr/local/bin/elt-console #ExecStart=/usr/bin/elt-console #' "$UNIT" >"$STAGE/elt-console-watch.service"

args=(deb --no-build --no-strip --manifest-path "$ROOT/Cargo.toml")
[[ -n $OUT ]] && args+=(--output "$OUT")
# --fast: a debug binary (tests) is large; compression time is not worth it there.
[[ ${ELT_DEB_FAST:-0} == 1 ]] && args+=(--fast)
cargo "${args[@]}"
