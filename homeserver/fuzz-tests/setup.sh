#!/usr/bin/env bash
# Prepares the specification fuzz test: schemathesis (from PyPI) in its own virtual environment,
# outside the repository. Idempotent: does nothing when the pinned version is installed.
# Prints the path of the schemathesis command.
set -euo pipefail
version=4.32.5
venv="${CONSORT_FUZZ_VENV:-$HOME/.cache/consort-fuzz/venv}"
if [ "$("$venv/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}')" != "$version" ]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q "schemathesis==$version" >&2
fi
echo "$venv/bin/schemathesis"
