#!/usr/bin/env bash
# Starts a real IPFS node (js-ipfs, offline, loopback only) whose Kubo-style RPC API the IPFS
# backend's tests talk to.
#
# Usage: start-node.sh REPO_DIR
#   Run setup.sh once first (it installs node_modules). REPO_DIR is created and initialised
#   (`jsipfs init --profile=test`) when it holds no repository yet, else reused (blocks and
#   pins persist across restarts). One daemon per REPO_DIR at a time.
#   API, Gateway, gRPC and swarm listen on 127.0.0.1 with ports the kernel picks (port 0);
#   bootstrap, MDNS, WebRTC-star, delegates, DHT, pubsub and preload are off, and the daemon
#   runs with --offline, so the node never reaches the network.
#
# Output: once the RPC API answers `POST /api/v0/id`, the script prints exactly one line on its
#   stdout,
#       API http://127.0.0.1:PORT
#   and then closes its stdout. Everything else (init and daemon logs) goes to stderr: inherit
#   it or send it to a file or /dev/null rather than leaving an unread pipe.
#   If the daemon dies first, or its API does not answer within 120 s (the daemon is then
#   stopped), no line is printed and stdout reaches EOF.
#
# Process: the script `exec`s the daemon, so the PID of the process the caller spawned IS the
#   daemon's: SIGTERM stops it cleanly, SIGKILL (Rust's Child::kill) leaves nothing behind.
#   The readiness watcher is detached (not a child of the daemon) and exits by itself once it
#   has printed the line or seen the daemon die.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$#" -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 REPO_DIR" >&2
    exit 2
fi
mkdir -p "$1"
repo="$(cd "$1" && pwd)"
jsipfs="$here/node_modules/.bin/jsipfs"
if [ ! -x "$jsipfs" ]; then
    echo "start-node.sh: $jsipfs missing: run setup.sh first" >&2
    exit 1
fi
export IPFS_PATH="$repo"

# API port of the daemon that last ran on this repository, from REPO_DIR/api (which holds
# /ip4/127.0.0.1/tcp/PORT/http while a daemon runs); empty when there is none.
api_port() {
    local addr port
    addr="$(cat "$repo/api" 2>/dev/null || true)"
    port="${addr#/ip4/127.0.0.1/tcp/}"
    port="${port%%/*}"
    if [ -n "$addr" ] && [ "$port" != "$addr" ]; then echo "$port"; fi
}
api_answers() {
    curl -sf -m 5 -X POST "http://127.0.0.1:$1/api/v0/id" >/dev/null 2>&1
}

# One daemon per repository. A daemon that was SIGKILLed leaves its api file and its
# repo.lock behind; js-ipfs would refuse the lock for 20 s more, so both are removed here
# unless a daemon still answers on that repository.
port="$(api_port)"
if [ -n "$port" ] && api_answers "$port"; then
    echo "start-node.sh: a daemon already runs on $repo (API port $port)" >&2
    exit 1
fi
rm -rf "$repo/api" "$repo/repo.lock"

if [ ! -f "$repo/config" ]; then
    # --pdeathsig: a caller that kills this script during init kills the init too.
    setpriv --pdeathsig KILL -- "$jsipfs" init --profile=test >&2 </dev/null
fi

# The repository is closed here, so its config file can be edited directly.
node --input-type=module - "$repo/config" <<'EOF' >&2
import fs from 'node:fs'
const file = process.argv.at(-1)
const c = JSON.parse(fs.readFileSync(file, 'utf8'))
c.Addresses ??= {}
c.Addresses.API = '/ip4/127.0.0.1/tcp/0'
c.Addresses.Gateway = '/ip4/127.0.0.1/tcp/0'
if ('RPC' in c.Addresses) c.Addresses.RPC = '/ip4/127.0.0.1/tcp/0'
c.Addresses.Swarm = ['/ip4/127.0.0.1/tcp/0']
c.Addresses.Announce = []
c.Addresses.Delegates = []
c.Bootstrap = []
c.Discovery = { MDNS: { Enabled: false, Interval: 10 }, webRTCStar: { Enabled: false } }
c.Routing = { Type: 'none' }
c.Pubsub = { ...(c.Pubsub ?? {}), Enabled: false }
c.Swarm = { ...(c.Swarm ?? {}), DisableNatPortMap: true }
fs.writeFileSync(file, JSON.stringify(c, null, 2))
EOF

daemon_pid=$$ # after the exec below, this shell's PID is the daemon's
# True while the daemon runs: kill -0 alone would also accept it as a zombie that its parent
# (the caller) has not reaped yet.
daemon_alive() {
    local stat
    stat="$(cat "/proc/$daemon_pid/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [ "${stat%% *}" != Z ]
}
# Readiness watcher, detached by the outer subshell (which exits at once) so that it is not a
# child of the daemon. It keeps this script's stdout; the daemon gets stderr as its stdout.
(
    (
        exec </dev/null
        deadline=$((SECONDS + 120))
        while daemon_alive && [ "$SECONDS" -lt "$deadline" ]; do
            port="$(api_port)"
            if [ -n "$port" ] && api_answers "$port"; then
                echo "API http://127.0.0.1:$port"
                exit 0
            fi
            sleep 0.2
        done
        if daemon_alive; then
            # Not ready in time: stop the daemon so the caller sees EOF and a dead child.
            echo "start-node.sh: the RPC API did not answer within 120 s" >&2
            kill -TERM "$daemon_pid" 2>/dev/null || true
        else
            echo "start-node.sh: the daemon exited before its RPC API answered" >&2
        fi
        exit 1
    ) &
)
exec "$jsipfs" daemon --offline --enable-preload=false >&2 </dev/null
