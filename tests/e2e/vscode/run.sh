#!/usr/bin/env bash
# End-to-end test of the VS Code extension in real VS Code: code-server 4.100.3 in headless Chromium, driven by
# playwright-core. Builds and installs the .vsix, serves a copy of examples/ as the workspace (trusted), runs the
# fake OpenAI server from tests/training/fake_providers.py for the training flow, then opens a hostile folder
# (untrusted, later trusted) that plants code and a run, and saves a screenshot per step to
# tests/e2e/vscode/out/. Then a second profile with no interpreter setting and no tuneline on PATH: the extension
# installs the wheel bundled in the .vsix into its private environment by itself (drive-install.mjs; screenshots in
# out/install/). Exits non-zero if any step fails.
#
#   bash tests/e2e/vscode/run.sh            (or: npm run e2e:vscode)
#
# Environment: TUNELINE_E2E_PYTHON (default: the repo's .venv/bin/python) runs the language server;
# TUNELINE_E2E_CACHE (default ~/.cache/tuneline-e2e) holds code-server; TUNELINE_E2E_KEEP=1 keeps the temp dir.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
PYTHON="${TUNELINE_E2E_PYTHON:-$REPO/.venv/bin/python}"
CACHE="${TUNELINE_E2E_CACHE:-$HOME/.cache/tuneline-e2e}"
CODE_SERVER="$CACHE/code-server-4.100.3/node_modules/.bin/code-server"
OUT="$HERE/out"
LOCK=/tmp/tuneline-heavy.lock
started=$(date +%s)

say() { printf '[e2e %3ss] %s\n' "$(($(date +%s) - started))" "$*"; }

if [ ! -x "$PYTHON" ]; then
  echo "e2e: no Python at $PYTHON (set TUNELINE_E2E_PYTHON to an interpreter with tuneline[lsp] installed)" >&2
  exit 2
fi

say "setup: code-server, chromium (cached in $CACHE)"
mkdir -p "$CACHE"
bash "$HERE/install-code-server.sh" --check || flock "$LOCK" bash "$HERE/install-code-server.sh"

cd "$REPO"
if [ ! -x node_modules/.bin/vsce ] || [ ! -d node_modules/playwright-core ]; then
  say "setup: npm ci"
  flock "$LOCK" npm ci --no-audit --no-fund >/dev/null
fi
say "unit: npm run test:vscode (the extension's pure modules)"
TUNELINE_TEST_PYTHON="$PYTHON" npm run --silent test:vscode
say "build: npm run package:vscode"
npm run --silent package:vscode >"$CACHE/package.log" 2>&1 || { tail -30 "$CACHE/package.log" >&2; exit 1; }
VSIX="$REPO/client-vscode/tuneline.vsix"

rm -rf "$OUT"
mkdir -p "$OUT"
TMP="$(mktemp -d /tmp/tuneline-e2e.XXXXXX)"
pids=()
cleanup() {
  local code=$?
  for pid in "${pids[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  sleep 0.5
  for pid in "${pids[@]}"; do
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  if [ "${TUNELINE_E2E_KEEP:-}" = 1 ]; then
    echo "e2e: kept $TMP"
  else
    rm -rf "$TMP"
  fi
  exit "$code"
}
trap cleanup EXIT INT TERM

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# The workspace: a copy of the examples, plus a dataset whose strings hold U+2028/U+2029.
WS="$TMP/workspace"
mkdir -p "$WS"
cp "$REPO"/examples/*.jsonl "$WS/"
"$PYTHON" - "$WS/separators.jsonl" <<'EOF'
import json, sys
rows = [
    {"messages": [{"role": "user", "content": "Line\u2028separator and\u2029paragraph separator, kept as data."},
                  {"role": "assistant", "content": "They stay."}]},
] * 12
with open(sys.argv[1], "w", encoding="utf-8") as fh:
    for row in rows:
        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
EOF

# The hostile folder, as a cloned repository could ship it (docs/security.md): a `json.py` and a `tuneline/`
# package that write a marker file when imported, a workspace setting naming its own interpreter (a script that
# leaves a marker, then runs the real Python), and a planted unfinished OpenAI run whose dataset is a file outside
# the folder, with a `tuneline/` package in the run folder too. Opening it must run none of that and upload nothing.
HOSTILE="$TMP/hostile"
MARKERS="$TMP/markers"
mkdir -p "$HOSTILE/.vscode" "$MARKERS" "$TMP/outside"
cp "$REPO/examples/broken.jsonl" "$HOSTILE/"
cp "$REPO/examples/support-chat.jsonl" "$TMP/outside/private.jsonl"
"$PYTHON" - "$HOSTILE" "$MARKERS" "$TMP/outside/private.jsonl" "$PYTHON" <<'EOF'
import json, os, sys
hostile, markers, outside, python = sys.argv[1:]
def plant(path, name):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(f"open({os.path.join(markers, name)!r}, 'w').write('imported')\n")
plant(f"{hostile}/json.py", "json.py")
plant(f"{hostile}/tuneline/__init__.py", "tuneline")
plant(f"{hostile}/tuneline/__main__.py", "tuneline.__main__")
with open(f"{hostile}/evil-python", "w") as fh:
    fh.write(f"#!/bin/sh\ntouch {os.path.join(markers, 'workspace-interpreter')}\nexec {python} \"$@\"\n")
os.chmod(f"{hostile}/evil-python", 0o755)
with open(f"{hostile}/.vscode/settings.json", "w") as fh:
    json.dump({"tuneline.interpreter": "./evil-python"}, fh)
run_id = "20250101-000000-openai-planted"
folder = f"{hostile}/.tuneline/runs/{run_id}"
plant(f"{folder}/tuneline/__init__.py", "run-folder-tuneline")
record = {
    "id": run_id, "backend": "openai", "model": "gpt-4o-mini-2024-07-18", "status": "running",
    "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z",
    "dataset": {"path": outside, "examples": 7, "tokens": 197}, "validation": None,
    "hyperparameters": {"n_epochs": 50}, "remote": None, "result_model": None, "cost_estimate_usd": 0.01,
    "progress": {"step": 0, "total_steps": None, "epoch": 0}, "error": None, "pid": None,
    "method": "sft", "source": "editor",
}
request = {"dataset": outside, "model": "gpt-4o-mini-2024-07-18", "validation": None,
           "hyperparameters": {"n_epochs": 50}, "suffix": None, "seed": None, "options": {}}
with open(f"{folder}/run.json", "w") as fh:
    json.dump(record, fh, indent=2)
with open(f"{folder}/request.json", "w") as fh:
    json.dump(request, fh, indent=2)
EOF

# code-server's user settings: no network reaching, no distractions, the repo's Python for the server.
USER_DATA="$TMP/user-data"
EXT_DIR="$TMP/extensions"
mkdir -p "$USER_DATA/User" "$EXT_DIR"
"$PYTHON" - "$USER_DATA/User/settings.json" "$PYTHON" <<'EOF'
import json, sys
settings = {
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoUpdate": False,
    "extensions.autoCheckUpdates": False,
    "extensions.ignoreRecommendations": True,
    "git.enabled": False,
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.enableExperiments": False,
    "workbench.welcomePage.walkthroughs.openOnInstall": False,
    "security.workspace.trust.enabled": True,
    "security.workspace.trust.startupPrompt": "always",
    "chat.disableAIFeatures": True,
    "editor.wordWrap": "on",
    "editor.minimap.enabled": False,
    "window.commandCenter": False,
    "tuneline.interpreter": sys.argv[2],
}
with open(sys.argv[1], "w") as fh:
    json.dump(settings, fh, indent=2)
EOF

say "install: $VSIX"
"$CODE_SERVER" --extensions-dir "$EXT_DIR" --user-data-dir "$USER_DATA" --install-extension "$VSIX" >"$OUT/install.log" 2>&1 || {
  cat "$OUT/install.log" >&2
  exit 1
}

say "start: fake OpenAI server"
FAKE_PORT="$(free_port)"
read -r FAKE_KEY COMPAT_KEY < <("$PYTHON" -c 'from tests.training.fake_providers import OPENAI_KEY, COMPAT_KEY; print(OPENAI_KEY, COMPAT_KEY)')
setsid "$PYTHON" -m tests.training.fake_providers --port "$FAKE_PORT" >"$OUT/fake-providers.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  grep -q '^OPENAI_BASE_URL=' "$OUT/fake-providers.log" 2>/dev/null && break
  sleep 0.1
done
OPENAI_BASE_URL="$(sed -n 's/^OPENAI_BASE_URL=//p' "$OUT/fake-providers.log" | head -1)"
TOGETHER_BASE_URL="$(sed -n 's/^TOGETHER_BASE_URL=//p' "$OUT/fake-providers.log" | head -1)"
if [ -z "$OPENAI_BASE_URL" ]; then
  echo "e2e: the fake provider server did not start:" >&2
  cat "$OUT/fake-providers.log" >&2
  exit 1
fi

say "start: code-server"
CS_PORT="$(free_port)"
# The extension host (and so the language server and its training child) inherits this environment; no real
# API key is present: the test stores the fake one through the extension's "Set OpenAI API Key" command.
# Workspace trust is on: the driver trusts the examples and not (at first) the hostile folder.
# TUNELINE_STATE_DIR keeps the record of runs started here inside the test's temp folder.
env -u OPENAI_API_KEY -u TOGETHER_API_KEY \
  OPENAI_BASE_URL="$OPENAI_BASE_URL" TOGETHER_BASE_URL="$TOGETHER_BASE_URL" TUNELINE_POLL_INTERVAL=0.5 \
  TUNELINE_STATE_DIR="$TMP/state" \
  setsid "$CODE_SERVER" --bind-addr "127.0.0.1:$CS_PORT" --auth none --disable-telemetry --disable-update-check \
  --user-data-dir "$USER_DATA" --extensions-dir "$EXT_DIR" "$WS" >"$OUT/code-server.log" 2>&1 &
pids+=($!)
CODE_SERVER_PGID=$!
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$CS_PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done

say "drive: playwright-core + chromium"
status=0
E2E_URL="http://127.0.0.1:$CS_PORT/?folder=$WS" E2E_OUT="$OUT" E2E_WORKSPACE="$WS" E2E_OPENAI_KEY="$FAKE_KEY" E2E_COMPAT_KEY="$COMPAT_KEY" E2E_USER_DATA="$USER_DATA" \
  E2E_HOSTILE_URL="http://127.0.0.1:$CS_PORT/?folder=$HOSTILE" E2E_HOSTILE="$HOSTILE" E2E_MARKERS="$MARKERS" \
  E2E_FAKE_URL="http://127.0.0.1:$FAKE_PORT" E2E_CODE_SERVER_PGID="$CODE_SERVER_PGID" \
  E2E_PYTHON="$PYTHON" E2E_REPO="$REPO" E2E_STATE_DIR="$TMP/state" \
  E2E_CHROME_PROFILE="$TMP/chrome" node "$HERE/drive.mjs" || status=$?

# The extension's own log and the server's stderr help when a step failed.
find "$USER_DATA" -path '*tuneline*' -name '*.log' -exec cp {} "$OUT/" \; 2>/dev/null || true

# The newcomer's machine: the same .vsix in a fresh profile (so a fresh global storage), no tuneline.interpreter,
# no installSource, and a PATH with a plain python3 and no tuneline. The extension must install its bundled wheel
# into its private environment by itself (pip reaches the package index for tuneline's dependencies).
say "stop: the first code-server"
kill -TERM -- "-$CODE_SERVER_PGID" 2>/dev/null || true
NODE_DIR="$(dirname "$(command -v node)")"
PLAIN_PATH="$NODE_DIR:/usr/local/bin:/usr/bin:/bin"
PLAIN_PYTHON="$(PATH="$PLAIN_PATH" command -v python3 || true)"
if [ -z "$PLAIN_PYTHON" ] || PATH="$PLAIN_PATH" command -v tuneline >/dev/null 2>&1 ||
  (cd / && "$PLAIN_PYTHON" -c 'import tuneline' >/dev/null 2>&1); then
  echo "e2e: the install run needs a python3 without tuneline on $PLAIN_PATH (found: ${PLAIN_PYTHON:-none})" >&2
  exit 1
fi
USER_DATA2="$TMP/user-data-install"
WS2="$TMP/workspace-install"
mkdir -p "$USER_DATA2/User" "$WS2" "$OUT/install"
cp "$REPO/examples/broken.jsonl" "$REPO/examples/support-chat.jsonl" "$WS2/"
"$PYTHON" - "$USER_DATA2/User/settings.json" "$USER_DATA/User/settings.json" <<'PY'
import json, sys
with open(sys.argv[2]) as fh:
    settings = json.load(fh)
settings.pop("tuneline.interpreter")
settings["security.workspace.trust.enabled"] = False
with open(sys.argv[1], "w") as fh:
    json.dump(settings, fh, indent=2)
PY
CS2_PORT="$(free_port)"
env -u VIRTUAL_ENV -u PYTHONPATH -u OPENAI_API_KEY -u TOGETHER_API_KEY PATH="$PLAIN_PATH" \
  setsid "$CODE_SERVER" --bind-addr "127.0.0.1:$CS2_PORT" --auth none --disable-telemetry --disable-update-check \
  --user-data-dir "$USER_DATA2" --extensions-dir "$EXT_DIR" "$WS2" >"$OUT/install/code-server.log" 2>&1 &
pids+=($!)
CODE_SERVER2_PGID=$!
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$CS2_PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
say "drive: the extension installs tuneline by itself ($PLAIN_PYTHON, PATH=$PLAIN_PATH)"
install_status=0
E2E_URL="http://127.0.0.1:$CS2_PORT/?folder=$WS2" E2E_OUT="$OUT/install" E2E_USER_DATA="$USER_DATA2" \
  E2E_CODE_SERVER_PGID="$CODE_SERVER2_PGID" E2E_PLAIN_PYTHON="$PLAIN_PYTHON" E2E_CHROME_PROFILE="$TMP/chrome-install" \
  node "$HERE/drive-install.mjs" || install_status=$?
find "$USER_DATA2" -path '*tuneline*' -name '*.log' -exec cp {} "$OUT/install/" \; 2>/dev/null || true
[ "$status" -ne 0 ] || status=$install_status

say "done (exit $status); screenshots in $OUT"
exit "$status"
