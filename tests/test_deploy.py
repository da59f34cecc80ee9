"""The deployment files agree with the code: every service, variable and topic the code knows is deployed.

Static checks only (no Docker needed): parse deploy/docker-compose.yml and every deploy/k8s manifest.
Topics come from the code (rentflow_schemas.TOPICS, rentflow_common.kafka.all_topics()), so adding a
topic without deploying it fails here."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import rentflow_common.service
import rentflow_common.settings
from rentflow_common.kafka import CONSUMER_GROUPS, all_topics
from rentflow_schemas import TOPICS

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SERVICES = {"payments": 8001, "ledger": 8002, "notifications": 8003, "reporting": 8004}
SERVICE_VARS = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "RENTFLOW_PORT")


def expected_topics() -> set[str]:
    topics = set(TOPICS) | set(all_topics())
    assert {f"dlq.{g}" for g in CONSUMER_GROUPS} <= topics
    return topics


def words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9._-]+", text))


def env_map(env: Any) -> dict[str, str]:
    """Compose `environment` as a mapping, whether written as a mapping or as KEY=VALUE items."""
    if env is None:
        return {}
    if isinstance(env, dict):
        return {k: "" if v is None else str(v) for k, v in env.items()}
    return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)


def command_text(cmd: Any) -> str:
    return " ".join(cmd) if isinstance(cmd, list) else str(cmd or "")


def runs_module(cmd: Any, module: str) -> bool:
    parts = cmd if isinstance(cmd, list) else str(cmd or "").split()
    return any(a == "-m" and b == module for a, b in zip(parts, parts[1:]))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict)
    return doc


@pytest.fixture(scope="module")
def manifests() -> list[tuple[str, dict[str, Any]]]:
    files = sorted((DEPLOY / "k8s").glob("*.yaml"))
    assert files, "no manifests in deploy/k8s"
    docs = []
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                assert isinstance(doc, dict) and "kind" in doc, f"{path.name}: a document without kind"
                docs.append((path.name, doc))
    return docs


def of_kind(manifests: list[tuple[str, dict[str, Any]]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests if doc["kind"] == kind}


# ---- docker compose -------------------------------------------------------------------------

def test_kafka_runs_kraft_without_zookeeper(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert not [n for n, s in services.items() if "zookeeper" in n or "zookeeper" in str(s.get("image", ""))]
    kafka = services["kafka"]
    assert re.fullmatch(r"apache/kafka:(3\.9\.\d+|4\.\d+\.\d+)", kafka["image"])
    env = env_map(kafka["environment"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert kafka.get("healthcheck")


def test_compose_topics_job_creates_every_topic(compose: dict[str, Any]) -> None:
    job = compose["services"]["topics"]
    script = command_text(job.get("entrypoint")) + " " + command_text(job.get("command"))
    missing = expected_topics() - words(script)
    assert not missing, f"topics job does not create {sorted(missing)}"
    assert "--create" in script and "--if-not-exists" in script
    assert env_map(job["environment"])["PARTITIONS"] == "${RENTFLOW_PARTITIONS:-6}"
    assert job["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_postgres_16_with_healthcheck_and_volume(compose: dict[str, Any]) -> None:
    pg = compose["services"]["postgres"]
    assert pg["image"].split(":")[1].startswith("16")
    assert "pg_isready" in command_text(pg["healthcheck"]["test"])
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in pg["volumes"])
    assert env_map(pg["environment"])["POSTGRES_DB"] == "rentflow"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_compose_service(compose: dict[str, Any], name: str) -> None:
    service = compose["services"].get(name)
    assert service is not None, f"{name} missing from docker-compose.yml"
    env = env_map(service.get("environment"))
    for var in SERVICE_VARS:
        assert env.get(var), f"{name}: {var} not set"
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["DATABASE_URL"] == "postgresql://rentflow:rentflow@postgres:5432/rentflow"
    assert env["RENTFLOW_LOG_FORMAT"] == "json"
    assert env["RENTFLOW_HOST"] == "0.0.0.0"
    assert env["RENTFLOW_PARTITIONS"] == "${RENTFLOW_PARTITIONS:-6}"
    port = SERVICES[name]
    assert env["RENTFLOW_PORT"] == str(port)
    assert f"{port}:{port}" in [str(p) for p in service["ports"]]
    assert runs_module(service["command"], f"rentflow_{name}"), service["command"]
    assert service["restart"] == "on-failure"
    assert service["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "kafka": {"condition": "service_healthy"},
        "topics": {"condition": "service_completed_successfully"},
    }
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY / service["build"]["context"] / "uv.lock").is_file()


def test_no_compose_service_left_unchecked(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == set(SERVICES) | {"kafka", "topics", "postgres"}


# ---- Dockerfile -----------------------------------------------------------------------------

def test_dockerfile() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "python:3.11-slim" in text
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2, "not multi-stage"
    assert re.search(r"uv sync --all-packages --frozen --no-dev", text)
    for part in ("pyproject.toml", "uv.lock", "libs/", "schemas/", "services/", "cli/"):
        assert re.search(rf"^COPY .*{re.escape(part)}", text, re.M), f"{part} not copied"
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/health", text, re.M)


# ---- Kubernetes -----------------------------------------------------------------------------

def test_every_manifest_in_namespace(manifests: list[tuple[str, dict[str, Any]]]) -> None:
    assert "rentflow" in of_kind(manifests, "Namespace")
    for path, doc in manifests:
        if doc["kind"] not in ("Namespace", "Kustomization"):
            assert doc["metadata"].get("namespace") == "rentflow", f"{path}: {doc['kind']} outside rentflow"


def test_kustomization_lists_existing_files(manifests: list[tuple[str, dict[str, Any]]]) -> None:
    (kustomization,) = [doc for _, doc in manifests if doc["kind"] == "Kustomization"]
    for resource in kustomization["resources"]:
        assert (DEPLOY / "k8s" / resource).is_file(), resource
    assert "secret.example.yaml" not in kustomization["resources"]
    files = {p for p, d in manifests if d["kind"] not in ("Kustomization",) and p != "secret.example.yaml"}
    assert files == set(kustomization["resources"])


def test_configmap_and_secret(manifests: list[tuple[str, dict[str, Any]]]) -> None:
    config = of_kind(manifests, "ConfigMap")["rentflow-config"]["data"]
    for var in ("KAFKA_BOOTSTRAP_SERVERS", "RENTFLOW_PARTITIONS", "RENTFLOW_LOG_FORMAT", "RENTFLOW_HOST"):
        assert config.get(var), var
    assert "DATABASE_URL" not in config, "the database URL belongs in the Secret"
    secret = of_kind(manifests, "Secret")["rentflow-database"]
    assert secret["stringData"]["DATABASE_URL"].startswith("postgresql://")


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_k8s_deployment_and_service(manifests: list[tuple[str, dict[str, Any]]], name: str) -> None:
    deployment = of_kind(manifests, "Deployment").get(name)
    assert deployment is not None, f"no Deployment {name}"
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    assert runs_module(container["command"], f"rentflow_{name}"), container["command"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/health", f"{name}: {probe}"
        assert get["port"] in ports or get["port"] in ports.values()
    assert {"configMapRef": {"name": "rentflow-config"}} in container["envFrom"]
    env = {e["name"]: e for e in container.get("env", [])}
    assert int(env["RENTFLOW_PORT"]["value"]) == ports["http"]
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "rentflow-database", "key": "DATABASE_URL"}
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    service = of_kind(manifests, "Service").get(name)
    assert service is not None, f"no Service {name}"
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] in ("http", ports["http"])


def test_ledger_scales_out_within_partitions(manifests: list[tuple[str, dict[str, Any]]]) -> None:
    replicas = of_kind(manifests, "Deployment")["ledger"]["spec"]["replicas"]
    partitions = int(of_kind(manifests, "ConfigMap")["rentflow-config"]["data"]["RENTFLOW_PARTITIONS"])
    assert 2 <= replicas <= partitions


def test_k8s_topics_job_creates_every_topic(manifests: list[tuple[str, dict[str, Any]]]) -> None:
    job = of_kind(manifests, "Job")["rentflow-topics"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    script = command_text(container.get("command")) + " " + command_text(container.get("args"))
    missing = expected_topics() - words(script)
    assert not missing, f"k8s topics job does not create {sorted(missing)}"
    assert {"configMapRef": {"name": "rentflow-config"}} in container["envFrom"]


# ---- env.example ----------------------------------------------------------------------------

def test_env_example_lists_every_variable() -> None:
    text = (DEPLOY / "env.example").read_text()
    names = set(re.findall(r"^([A-Z_]+)=", text, re.M))
    code = {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "RENTFLOW_PARTITIONS", "RENTFLOW_LOG_FORMAT",
            "RENTFLOW_TOPIC_PREFIX", "RENTFLOW_HOME", "RENTFLOW_PORT", "RENTFLOW_HOST"}
    for module in (rentflow_common.settings, rentflow_common.service):  # whatever the code reads now
        source = Path(module.__file__).read_text()
        code |= set(re.findall(r"os\.environ(?:\.get\(|\[)\s*[\"']([A-Z_]+)[\"']", source))
    assert code <= names, sorted(code - names)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[A-Z_]+=", line):
            assert i > 0 and lines[i - 1].startswith("#"), f"{line.split('=')[0]} has no comment"


def test_the_readme_topic_table_is_the_one_the_code_makes():
    """deploy/README.md lists every topic, with its event, key, producer and consumers, as
    deploy/topics.py makes it from the code; a topic added, renamed or read by another group fails
    here until `python deploy/topics.py` is run."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("deploy_topics", DEPLOY / "topics.py")
    topics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(topics)
    readme = (DEPLOY / "README.md").read_text()
    assert topics.current(readme) == topics.section(), "deploy/README.md's topics are stale: python deploy/topics.py"
    listed = set(re.findall(r"^\| `([a-z0-9.-]+)` \|", topics.current(readme), re.M))
    assert listed == expected_topics()
    for group, consumed in CONSUMER_GROUPS.items():
        for topic in consumed:
            row = next(line for line in readme.splitlines() if line.startswith(f"| `{topic}` |"))
            assert group in row.split(" | ")[4], (topic, group)


def test_the_readme_acl_table_is_the_one_the_code_makes():
    """deploy/README.md's Kafka ACLs per service are what deploy/topics.py makes from the registry's
    producers and CONSUMER_GROUPS; every topic is written by exactly the services that produce it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("deploy_topics", DEPLOY / "topics.py")
    topics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(topics)
    readme = (DEPLOY / "README.md").read_text()
    assert topics.current_acls(readme) == topics.acl_section(), "deploy/README.md's ACLs are stale: python deploy/topics.py"
    acls = topics.service_acls()
    assert acls["notifications"]["write"].count("identity.users.v1") == 1
    assert [s for s, a in acls.items() if "payments.received.v1" in a["write"]] == ["payments"]
    assert all("audit.v1" in a["write"] for a in acls.values())
    for group, consumed in CONSUMER_GROUPS.items():
        assert set(consumed) <= set(acls[group.split(".")[0]]["read"]) and group in acls[group.split(".")[0]]["groups"]
