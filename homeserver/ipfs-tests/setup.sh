#!/usr/bin/env bash
# Prepares the IPFS fixture (start-node.sh): node_modules with js-ipfs from the committed lock
# file (npm ci; npm keeps its download cache under ~/.npm). Idempotent: skipped when the lock
# file has not changed.
set -euo pipefail
cd "$(dirname "$0")"
deps=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ "$(cat node_modules/.setup-stamp 2>/dev/null)" != "$deps" ]; then
    echo "setup.sh: npm ci"
    npm ci --no-audit --no-fund
    echo "$deps" > node_modules/.setup-stamp
fi
echo "setup.sh: ready"
