#!/usr/bin/env bash
# Prepares the Hydrogen browser test: Debian's chromium, node_modules (npm ci) and dist/ (build.mjs).
# Idempotent: each step is skipped when its inputs have not changed since it last ran.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x /usr/bin/chromium ]; then
    echo "setup.sh: installing Debian's chromium"
    # No browser download (npx playwright install) works here; playwright-core drives this one.
    apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }
fi

stamp() { cat "$@" | sha256sum | cut -d' ' -f1; }

deps=$(stamp package.json package-lock.json)
if [ "$(cat node_modules/.setup-stamp 2>/dev/null)" != "$deps" ]; then
    echo "setup.sh: npm ci"
    npm ci --no-audit --no-fund
    echo "$deps" > node_modules/.setup-stamp
fi

build=$(stamp package-lock.json build.mjs app/*)
if [ "$(cat dist/.setup-stamp 2>/dev/null)" != "$build" ]; then
    echo "setup.sh: building dist/"
    node build.mjs
    echo "$build" > dist/.setup-stamp
fi
echo "setup.sh: ready"
