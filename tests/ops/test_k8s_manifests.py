"""deploy/k8s/ checked without a cluster: every document against the Kubernetes OpenAPI schemas
(kubernetes-validate, strict: unknown fields fail), then what a schema cannot know: the commands,
port, probes, image and user agree with the Dockerfile and docker-compose.yml, beat is a single
Recreate replica, and every pod reads the one Secret with the keys all hosts must share."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.test_compose import SERVICES, documented
from tests.support.gateway import REPO_ROOT, gateway_env

kubernetes_validate = pytest.importorskip("kubernetes_validate")

K8S = REPO_ROOT / "deploy" / "k8s"
KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]  # the oldest release still commonly run, and the newest schema
SHARED_SECRETS = {"SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL", "REDIS_URL"}
DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()


def manifests() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            out += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return out


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests() if doc["kind"] == kind}


def pod_spec(name: str) -> dict[str, Any]:
    workloads = by_kind("Deployment") | by_kind("Job")
    return workloads[name]["spec"]["template"]["spec"]


def container(name: str) -> dict[str, Any]:
    return pod_spec(name)["containers"][0]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_matches_the_kubernetes_schema(version):
    docs = manifests()
    assert {doc["kind"] for _, doc in docs} >= {"Deployment", "Service", "Job", "Secret", "ConfigMap"}
    for _, doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)  # raises with the offending field


def test_the_validator_rejects_a_misspelt_field():
    broken = copy.deepcopy(by_kind("Deployment")["claude-gateway-web"])
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/health"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_web_serves_the_dockerfile_port_with_health_probes_behind_the_service():
    web = container("claude-gateway-web")
    [port] = web["ports"]
    assert f"EXPOSE {port['containerPort']}" in DOCKERFILE
    assert web["command"] == SERVICES["web"]["command"]  # the same serve as compose
    assert str(port["containerPort"]) == web["command"][web["command"].index("--port") + 1]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert web[probe]["httpGet"] == {"path": "/health", "port": port["name"]}, probe
    processes = {e["name"]: e for e in web["env"]}["WEB_PROCESSES"]["valueFrom"]["resourceFieldRef"]
    assert processes == {"containerName": web["name"], "resource": "limits.cpu", "divisor": "1"}
    service = by_kind("Service")["claude-gateway"]
    assert service["spec"]["selector"] == by_kind("Deployment")["claude-gateway-web"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]


def test_worker_and_beat_run_the_compose_commands_and_beat_is_one_recreated_replica():
    assert container("claude-gateway-worker")["command"] == SERVICES["worker"]["command"]
    assert container("claude-gateway-beat")["command"] == SERVICES["beat"]["command"]
    beat = by_kind("Deployment")["claude-gateway-beat"]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"] == {"type": "Recreate"}
    assert "livenessProbe" in container("claude-gateway-worker")


def test_migration_job_prepares_the_database_and_the_pods_wait_for_it():
    job = by_kind("Job")["claude-gateway-migrate"]
    assert container("claude-gateway-migrate")["command"] == ["python", "manage.py", "serve", "--no-serve"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in {"OnFailure", "Never"}
    for name in ("claude-gateway-web", "claude-gateway-worker", "claude-gateway-beat"):
        [wait] = pod_spec(name)["initContainers"]
        assert "manage.py migrate --check" in wait["command"][-1], name


def test_every_pod_reads_the_shared_secret_and_config_as_the_image_user():
    secret = by_kind("Secret")["claude-gateway"]
    assert set(secret["stringData"]) >= SHARED_SECRETS
    config = by_kind("ConfigMap")["claude-gateway"]["data"]
    assert config["REQUIRE_SECRET_KEY"] == "true"  # never a per-pod generated key
    assert set(config) <= documented() and set(secret["stringData"]) <= documented()
    uid = re.search(r"--uid (\d+)", DOCKERFILE)
    assert uid is not None
    image = SERVICES["web"]["image"].split(":")[0]
    for name in ("claude-gateway-web", "claude-gateway-worker", "claude-gateway-beat", "claude-gateway-migrate"):
        spec = pod_spec(name)
        assert spec["securityContext"]["runAsUser"] == int(uid.group(1)), name
        for box in spec["containers"] + spec.get("initContainers", []):
            assert box["image"] == image, name
            assert [ref.get("secretRef", ref.get("configMapRef"))["name"] for ref in box["envFrom"]] == \
                ["claude-gateway", "claude-gateway"], name
            assert box["securityContext"]["readOnlyRootFilesystem"] is True
            assert {m["mountPath"] for m in box["volumeMounts"]} == {"/data", "/tmp"}  # GATEWAY_HOME, tmp
    assert "GATEWAY_HOME=/data" in DOCKERFILE


def test_kustomization_lists_every_manifest_but_the_example_secret():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert set(kustomization["resources"]) == files
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return
    built = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    kinds = [doc["kind"] for doc in yaml.safe_load_all(built.stdout) if doc]
    assert sorted(kinds) == sorted(doc["kind"] for name, doc in manifests() if name != "secret.example.yaml")


def test_migrate_check_is_what_the_init_containers_wait_on(tmp_path):
    """`migrate --check` fails while a migration is pending and passes once the Job has run."""
    env = gateway_env({}, Path(tmp_path) / "db.sqlite3")

    def manage(*args: str) -> int:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                              timeout=120).returncode

    assert manage("migrate", "--check") != 0
    assert manage("serve", "--no-serve") == 0  # the Job's command
    assert manage("migrate", "--check") == 0
