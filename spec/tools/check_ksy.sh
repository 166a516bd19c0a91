#!/usr/bin/env bash
# Checks spec/muxwire.ksy against spec/vectors/frames.json, from a clean checkout:
#
#   1. installs the Kaitai Struct compiler (npm, pinned in spec/tools/ksy/package-lock.json)
#      with `npm ci` if spec/tools/ksy/node_modules is missing;
#   2. compiles spec/muxwire.ksy to Python into target/ksy/;
#   3. uses the virtualenv $VENV, or creates target/venv, and installs the Kaitai
#      Struct runtime (PyPI kaitaistruct==0.11) there if it is missing;
#   4. runs spec/tools/check_ksy.py, which prints `ksy: N passed, M failed, K skipped`.
#
# usage: spec/tools/check_ksy.sh [check_ksy.py options, e.g. --vectors FILE -v]
# environment: VENV (existing virtualenv to use), PYTHON (interpreter for a new venv)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="$REPO/spec/tools/ksy"
BUILD="$REPO/target/ksy"
RUNTIME_VERSION="0.11"

log() { echo "check_ksy: $*" >&2; }

# 1. compiler
if [ ! -d "$TOOLS/node_modules/kaitai-struct-compiler" ] || [ ! -d "$TOOLS/node_modules/js-yaml" ]; then
  log "installing the Kaitai Struct compiler (npm ci)"
  npm ci --prefix "$TOOLS" --no-audit --no-fund --loglevel=error >&2
fi

# 2. generated parser
rm -rf "$BUILD"
mkdir -p "$BUILD"
node "$TOOLS/compile.js" "$BUILD" "$REPO/spec/muxwire.ksy" python >/dev/null

# 3. Python runtime
if [ -z "${VENV:-}" ]; then
  VENV="$REPO/target/venv"
  if [ ! -x "$VENV/bin/python" ]; then
    if [ -z "${PYTHON:-}" ]; then
      if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
    fi
    log "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
  fi
fi
PY="$VENV/bin/python"
if [ ! -x "$PY" ]; then
  log "no python in VENV=$VENV"
  exit 2
fi
if ! "$PY" -c "import kaitaistruct, sys; sys.exit(kaitaistruct.__version__ != '$RUNTIME_VERSION')" >/dev/null 2>&1; then
  log "installing kaitaistruct==$RUNTIME_VERSION into $VENV"
  "$PY" -m pip install --disable-pip-version-check --quiet "kaitaistruct==$RUNTIME_VERSION" >&2
fi

# 4. the check
exec "$PY" "$REPO/spec/tools/check_ksy.py" --parser-dir "$BUILD" "$@"
