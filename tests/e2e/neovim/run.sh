#!/usr/bin/env bash
# End-to-end check with a real editor nobody here wrote: Neovim (Debian's 0.7.2, headless) opens a dataset,
# talks to `tuneline serve`, and must show diagnostics at the right column, follow an edit, and answer a hover.
# Usage: tests/e2e/neovim/run.sh   (needs `nvim`: apt-get install -y neovim). Exit 0 on success.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
if ! command -v nvim >/dev/null 2>&1; then
  echo "tests/e2e/neovim: nvim is not installed (apt-get install -y neovim)" >&2
  exit 1
fi
export TUNELINE_PYTHON="${TUNELINE_PYTHON:-$repo/.venv/bin/python}"
work="$(mktemp -d -t tuneline-nvim.XXXXXX)"
trap 'rm -rf "$work"' EXIT
export XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data" XDG_STATE_HOME="$work/state" XDG_CACHE_HOME="$work/cache"
export TUNELINE_NVIM_REPORT="$work/report.json"
"$TUNELINE_PYTHON" - "$work/data.jsonl" <<'PY'
import json, sys
sys_prompt = {"role": "system", "content": "You are a helpful assistant."}
lines = [
    json.dumps({"messages": [sys_prompt, {"role": "user", "content": f"Question {i}"}, {"role": "assistant", "content": f"Answer {i}."}]})
    for i in range(12)
]
# an emoji before the misspelled role: the column must survive UTF-16 (server) and bytes (Neovim)
lines[5] = json.dumps(
    {"messages": [sys_prompt, {"role": "user", "content": "😀 Où est la gare ?"}, {"role": "assitant", "content": "Tout droit."}]},
    ensure_ascii=False,
)
open(sys.argv[1], "w", encoding="utf-8").write("\n".join(lines) + "\n")
PY
status=0
timeout 120 nvim --headless --clean -n -u "$here/init.lua" "$work/data.jsonl" -c "luafile $here/check.lua" \
  >"$work/nvim.log" 2>&1 || status=$?
if [ -f "$TUNELINE_NVIM_REPORT" ]; then
  cat "$TUNELINE_NVIM_REPORT"; echo
fi
if [ "$status" -ne 0 ]; then
  echo "tests/e2e/neovim: FAILED (nvim exit $status)" >&2
  cat "$work/nvim.log" >&2 || true
  exit 1
fi
echo "tests/e2e/neovim: OK"
