#!/usr/bin/env bash
# Installs what the VS Code end-to-end test needs, once, outside the repository:
#   Debian's chromium, ripgrep and libkrb5-dev (code-server's native modules build against it),
#   and code-server 4.100.3 from npm (the newest that runs on Node 20) into $CACHE/code-server.
# @vscode/ripgrep would download rg from GitHub during the install; its cache is pre-seeded with Debian's rg.
# `--check` only tells (exit status) whether everything is installed already.
set -euo pipefail

CACHE="${TUNELINE_E2E_CACHE:-$HOME/.cache/tuneline-e2e}"
CODE_SERVER_VERSION=4.100.3
PREFIX="$CACHE/code-server-$CODE_SERVER_VERSION"
BIN="$PREFIX/node_modules/.bin/code-server"

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v rg >/dev/null || missing+=(ripgrep)
[ -e /usr/include/krb5.h ] || [ -e /usr/include/gssapi/gssapi.h ] || missing+=(libkrb5-dev)
if [ "${1:-}" = --check ]; then
  # Exit 0 when everything is in place (so callers can skip the heavy-job lock), 1 otherwise.
  [ ${#missing[@]} -eq 0 ] && [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1
  exit
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "e2e setup: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q "${missing[@]}" >/dev/null
fi

if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
  exit 0
fi

echo "e2e setup: installing code-server $CODE_SERVER_VERSION into $PREFIX (about 2 minutes, 300 MB)"
rg_cache=/tmp/vscode-ripgrep-cache-1.15.11
mkdir -p "$rg_cache"
for asset in ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz ripgrep-v13.0.0-13-x86_64-unknown-linux-musl.tar.gz; do
  if [ ! -s "$rg_cache/$asset" ]; then
    tmp=$(mktemp -d)
    cp "$(command -v rg)" "$tmp/rg"
    tar -C "$tmp" -czf "$rg_cache/$asset" rg
    rm -rf "$tmp"
  fi
done

rm -rf "$PREFIX"
mkdir -p "$PREFIX"
npm_config_unsafe_perm=true npm_config_yes=true \
  npm install --prefix "$PREFIX" --no-audit --no-fund --foreground-scripts --no-save \
  "code-server@$CODE_SERVER_VERSION" >"$CACHE/code-server-install.log" 2>&1 || {
  echo "e2e setup: code-server install failed; last lines of $CACHE/code-server-install.log:" >&2
  tail -30 "$CACHE/code-server-install.log" >&2
  exit 1
}
"$BIN" --version
