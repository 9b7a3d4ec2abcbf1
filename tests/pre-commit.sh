#!/usr/bin/env bash
# The pre-commit hook of .pre-commit-hooks.yaml, run for real: pre-commit (from PyPI, cached in
# target/editors/pre-commit-venv) installs the `stepwise-check` hook of this repository at HEAD into
# a fresh git repository (pre-commit builds it with `cargo install`; CARGO_TARGET_DIR reuses this
# checkout's target/ for the dependencies), fails on a broken workflow, passes once it is fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/target/editors
VENV=$CACHE/pre-commit-venv
PRE_COMMIT_VERSION=4.7.0
mkdir -p "$CACHE"
if [ ! -x "$VENV/bin/pre-commit" ] || ! "$VENV/bin/pre-commit" --version | grep -q "$PRE_COMMIT_VERSION"; then
  echo "== installing pre-commit $PRE_COMMIT_VERSION from PyPI into $VENV"
  python3 -m venv --clear "$VENV"  # --clear: a venv moved or left broken is made anew
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "pre-commit==$PRE_COMMIT_VERSION"
fi
REV=$(git rev-parse HEAD)
git cat-file -e "$REV:.pre-commit-hooks.yaml" || { echo "HEAD has no .pre-commit-hooks.yaml: commit it first"; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export PRE_COMMIT_HOME=$TMP/cache CARGO_TARGET_DIR=$ROOT/target
REPO=$TMP/repo
git init -q "$REPO"
cd "$REPO"
cat > .pre-commit-config.yaml <<YAML
repos:
  - repo: $ROOT
    rev: $REV
    hooks:
      - id: stepwise-check
YAML
printf 'version: 1\nname: ok\nprovider: ollama\nsteps:\n  - id: a\n    prompt: hi\n' > ok.flow.yaml
printf 'version: 1\nname: broken\nprovider: ollama\nsteps:\n  - id: a\n    prompt: "{{ steps.nope.output }}"\n' > broken.flow.yaml
echo "not: a workflow" > other.yaml
git add -A

echo "== pre-commit run (installs the hook: cargo install of stepwise at $REV)"
set +e
"$VENV/bin/pre-commit" run --all-files > "$TMP/first.log" 2>&1
first=$?
set -e
failures=0
if [ $first -ne 0 ] && grep -q "unknown-reference" "$TMP/first.log" && grep -q "broken.flow.yaml" "$TMP/first.log"; then
  echo "PASS the hook fails on a broken workflow and names its problem"
else
  echo "FAIL the hook did not fail on the broken workflow (exit $first)"; cat "$TMP/first.log"; failures=$((failures + 1))
fi
printf 'version: 1\nname: fixed\nprovider: ollama\nsteps:\n  - id: a\n    prompt: "{{ steps.a2.output }}"\n  - id: a2\n    prompt: hi\n' > broken.flow.yaml
git add -A
if "$VENV/bin/pre-commit" run --all-files > "$TMP/second.log" 2>&1; then
  echo "PASS the hook passes once the workflow is fixed"
else
  echo "FAIL the hook still fails"; cat "$TMP/second.log"; failures=$((failures + 1))
fi
echo "pre-commit: $((2 - failures)) passed, $failures failed"
exit $failures
