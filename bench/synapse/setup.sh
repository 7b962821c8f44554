#!/usr/bin/env bash
# Creates a Python virtual environment with Synapse (PyPI `matrix-synapse`) for `cs-api-bench`.
#
# Usage: bench/synapse/setup.sh [VENV_DIR]
#   VENV_DIR defaults to $HOME/.cache/consort-bench/synapse-venv (outside the repository).
#   SYNAPSE_VERSION=1.2.3 pins a version; by default the newest release is installed.
# Needs python3 (3.10 or newer) with the venv module. Re-running upgrades the installation in place.
set -euo pipefail

venv="${1:-$HOME/.cache/consort-bench/synapse-venv}"
python="${PYTHON:-python3}"
spec="matrix-synapse"
if [[ -n "${SYNAPSE_VERSION:-}" ]]; then
    spec="matrix-synapse==${SYNAPSE_VERSION}"
fi

mkdir -p "$(dirname "$venv")"
if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet --upgrade "$spec"
"$venv/bin/python" -c 'import synapse; print("synapse", synapse.__version__, "in", __import__("sys").prefix)'
