#!/usr/bin/env bash
# Prepares the matrix-nio client test: matrix-nio (from PyPI, without the e2e extra) in its own
# virtual environment, outside the repository. Idempotent: does nothing when the pinned version
# is installed. Prints the path of the virtual environment's python.
set -euo pipefail
version=0.26.0
venv="${CONSORT_NIO_VENV:-$HOME/.cache/consort-nio/venv}"
installed() {
    "$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("matrix-nio"))' 2>/dev/null
}
if [ "$(installed)" != "$version" ]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q "matrix-nio==$version" >&2
fi
echo "$venv/bin/python"
