# Sourced: make sure the project's virtualenv exists and is current, and export
# VENV.  The venv is cached outside the checkout, keyed by the Python version and
# the requirement files, so a clean clone reuses it; the project itself is
# installed in develop mode on each run (seconds).
set -euo pipefail
_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_py=${PYTHON:-python3}
"$_py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "[venv] error: Python 3.11 or newer is needed ($_py is $("$_py" -V 2>&1))" >&2; exit 1; }
_key=$( { "$_py" -V 2>&1; cat "$_root/requirements.txt" "$_root/test-requirements.txt"; } | sha256sum | cut -c1-12)
VENV=${VENV:-${TKW_CACHE:-$HOME/.cache/tacker-k8s-worker}/venv-$_key}
if [ ! -x "$VENV/bin/python" ] || [ ! -f "$VENV/.complete" ]; then
  echo "[venv] creating $VENV (first run: installs the requirements)" >&2
  rm -rf "$VENV"
  "$_py" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r "$_root/requirements.txt" -r "$_root/test-requirements.txt"
  touch "$VENV/.complete"
fi
# pbr takes the version from git; a shallow or tagless clone still installs.
# setuptools' advice on every build is noise here: shown only when the install fails.
_log=$(mktemp)
if ! PBR_VERSION=${PBR_VERSION:-0.1.0} "$VENV/bin/pip" install -q --no-deps --no-build-isolation \
    -e "$_root" >"$_log" 2>&1; then
  cat "$_log" >&2; rm -f "$_log"
  echo "[venv] error: installing the project into $VENV failed" >&2; exit 1
fi
rm -f "$_log"
export VENV
