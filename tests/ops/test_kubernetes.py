"""k8s/: the kustomize base and the production overlay, rendered and validated.

Rendering: tests/ops/kustomize.py, compared with ``kubectl kustomize`` where kubectl is
installed. Validation: every rendered resource against the JSON schemas generated from
Kubernetes' OpenAPI documents that the ``kubernetes-validate`` package carries (strict:
unknown fields are errors), for the oldest and the newest release it knows. Then what the
schemas cannot say: probes on /health, the shutdown grace, the non-root user of the image,
the Secret references, settings and commands the program accepts, selectors that match.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from kasparro.cli import build_parser
from kasparro.serve import GRACEFUL_SHUTDOWN_SECONDS
from kasparro.settings import SETTINGS, Settings
from tests.conftest import REPO
from tests.ops.kustomize import (
    KustomizeError,
    Resource,
    apply_operation,
    pod_specs,
    render,
    split_image,
)

K8S = REPO / "k8s"
OVERLAYS = {"base": K8S / "base", "production": K8S / "production"}
VERSIONS = sorted({all_versions()[0], all_versions()[-1]})
SECRET = "kasparro"


def by_kind(resources: list[Resource]) -> dict[str, Resource]:
    kinds = [resource["kind"] for resource in resources]
    assert len(kinds) == len(set(kinds)), kinds
    return {resource["kind"]: resource for resource in resources}


@pytest.fixture(scope="module", params=list(OVERLAYS))
def rendered(request: pytest.FixtureRequest) -> list[Resource]:
    return render(OVERLAYS[request.param])


def containers(resource: Resource) -> list[dict[str, Any]]:
    return [container for pod in pod_specs(resource) for container in pod["containers"]]


def secret_refs(container: dict[str, Any]) -> dict[str, tuple[str, str, bool]]:
    refs = {}
    for variable in container.get("env", []):
        ref = variable.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            refs[variable["name"]] = (ref["name"], ref["key"], ref.get("optional", False))
    return refs


# -- the renderer --------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_the_renderer_agrees_with_kubectl_kustomize(overlay: str) -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(OVERLAYS[overlay])],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    theirs = [document for document in yaml.safe_load_all(out) if document]

    def key(resource: Resource) -> tuple[str, str]:
        return resource["kind"], resource["metadata"]["name"]

    assert sorted(render(OVERLAYS[overlay]), key=key) == sorted(theirs, key=key)


def test_json_patch_operations() -> None:
    document: Resource = {"spec": {"list": [1, 2], "a/b": {"~x": 1}}}
    apply_operation(document, {"op": "replace", "path": "/spec/list/0", "value": 9})
    apply_operation(document, {"op": "add", "path": "/spec/list/-", "value": 3})
    apply_operation(document, {"op": "add", "path": "/spec/list/0", "value": 0})
    apply_operation(document, {"op": "remove", "path": "/spec/a~1b/~0x"})
    apply_operation(document, {"op": "add", "path": "/spec/new", "value": {"k": "v"}})
    apply_operation(document, {"op": "test", "path": "/spec/new/k", "value": "v"})
    assert document == {"spec": {"list": [0, 9, 2, 3], "a/b": {}, "new": {"k": "v"}}}
    for wrong in (
        {"op": "replace", "path": "/spec/missing", "value": 1},
        {"op": "remove", "path": "/spec/list/7"},
        {"op": "test", "path": "/spec/new/k", "value": "w"},
        {"op": "move", "from": "/spec/new", "path": "/spec/moved"},
        {"op": "add", "path": "spec", "value": 1},
    ):
        with pytest.raises(KustomizeError):
            apply_operation(document, wrong)


def test_image_references_split_like_kustomize() -> None:
    assert split_image("kasparro") == ("kasparro", None, None)
    assert split_image("kasparro:0.1.0") == ("kasparro", "0.1.0", None)
    assert split_image("registry:5000/team/kasparro") == ("registry:5000/team/kasparro", None, None)
    assert split_image("r:5000/k:1@sha256:ab") == ("r:5000/k", "1", "sha256:ab")


def test_unsupported_kustomizations_are_refused(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(KustomizeError, match="commonLabels"):
        render(tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "resources: []\npatches:\n  - target: {kind: Deployment}\n    patch: '[]'\n"
    )
    with pytest.raises(KustomizeError, match="matches no resource"):
        render(tmp_path)


# -- the schemas ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_every_resource_matches_the_kubernetes_schema(
    rendered: list[Resource], version: str
) -> None:
    assert rendered
    for resource in rendered:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(part) for part in error.path)
            pytest.fail(f"{resource['kind']} {where}: {error.message} (Kubernetes {version})")


def test_the_schema_check_catches_a_typo() -> None:
    deployment = by_kind(render(OVERLAYS["base"]))["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


# -- what the schemas cannot check ---------------------------------------------------------


def test_the_kinds_the_service_needs(rendered: list[Resource]) -> None:
    kinds = set(by_kind(rendered))
    assert {"Deployment", "Service", "Job", "CronJob", "HorizontalPodAutoscaler"} <= kinds
    assert "PodDisruptionBudget" in kinds


def test_probes_ask_health_on_the_served_port(rendered: list[Resource]) -> None:
    (container,) = containers(by_kind(rendered)["Deployment"])
    (port,) = container["ports"]
    command = build_parser().parse_args(container["args"][1:])
    assert (command.command, command.host, command.port) == ("serve", "0.0.0.0", 8000)
    assert port == {"name": "http", "containerPort": command.port}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    # A database outage fails /health: readiness drops the pod long before liveness kills it.
    readiness, liveness = container["readinessProbe"], container["livenessProbe"]
    assert readiness["periodSeconds"] * readiness["failureThreshold"] < (
        liveness["periodSeconds"] * liveness["failureThreshold"]
    )


def test_termination_grace_covers_the_server_grace(rendered: list[Resource]) -> None:
    deployment = by_kind(rendered)["Deployment"]
    (container,) = containers(deployment)
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace >= int(pre_stop[1]) + GRACEFUL_SHUTDOWN_SECONDS + 2


def test_pods_run_as_the_images_non_root_user(rendered: list[Resource]) -> None:
    (user,) = re.findall(r"^USER (\d+):(\d+)$", (REPO / "Dockerfile").read_text(), re.M)
    for resource in rendered:
        for pod in pod_specs(resource):
            context = pod["securityContext"]
            assert context["runAsNonRoot"] is True
            assert (str(context["runAsUser"]), str(context["runAsGroup"])) == user
            assert pod["automountServiceAccountToken"] is False
            for container in pod["containers"]:
                assert container["securityContext"]["allowPrivilegeEscalation"] is False
                assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
                assert "memory" in container["resources"]["limits"]


def test_secrets_and_settings(rendered: list[Resource]) -> None:
    known = {setting.name for setting in SETTINGS}
    for resource in rendered:
        for container in containers(resource):
            refs = secret_refs(container)
            assert refs["DATABASE_URL"] == (SECRET, "DATABASE_URL", False)
            plain = {var["name"]: var["value"] for var in container["env"] if "value" in var}
            assert set(plain) | set(refs) <= known
            # The literal values are valid settings (a database URL stands in for the Secret).
            Settings.from_env({**plain, "DATABASE_URL": "postgresql://u@db/kasparro"})
    (api,) = containers(by_kind(rendered)["Deployment"])
    assert secret_refs(api)["ADMIN_TOKEN"] == (SECRET, "ADMIN_TOKEN", False)
    assert secret_refs(api)["DATABASE_READ_URL"] == (SECRET, "DATABASE_READ_URL", True)


def test_jobs_run_commands_the_cli_accepts(rendered: list[Resource]) -> None:
    kinds = by_kind(rendered)
    (migrate,) = containers(kinds["Job"])
    (prune,) = containers(kinds["CronJob"])
    assert build_parser().parse_args(migrate["args"][1:]).command == "migrate"
    pruning = build_parser().parse_args(prune["args"][1:])
    assert (pruning.command, pruning.records, pruning.rejects) == ("prune", True, True)
    # No --older-than: the age is RETENTION_DAYS, which must then be set.
    assert pruning.older_than is None
    plain = {var["name"]: var["value"] for var in prune["env"] if "value" in var}
    assert int(plain["RETENTION_DAYS"]) > 0
    assert kinds["CronJob"]["spec"]["concurrencyPolicy"] == "Forbid"
    assert migrate["args"][0] == prune["args"][0] == "kasparro"
    assert shlex.join(prune["args"]) == "kasparro prune --records --rejects"


def test_selectors_tie_the_pieces_together(rendered: list[Resource]) -> None:
    kinds = by_kind(rendered)
    deployment = kinds["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert kinds["Service"]["spec"]["selector"] == selector
    assert kinds["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    assert kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    target = kinds["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    # A node drain can always evict one pod.
    hpa = kinds["HorizontalPodAutoscaler"]["spec"]
    assert kinds["PodDisruptionBudget"]["spec"]["minAvailable"] < hpa["minReplicas"]
    assert hpa["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["maxReplicas"]
    # Jobs' pods are not the Service's.
    job = kinds["Job"]["spec"]["template"]
    cron = kinds["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]
    for template in (job, cron):
        assert not selector.items() <= template["metadata"]["labels"].items()


def test_production_pins_the_image_and_has_its_namespace() -> None:
    resources = render(OVERLAYS["production"])
    kinds = by_kind(resources)
    namespace = kinds["Namespace"]["metadata"]["name"]
    assert kinds["Namespace"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == (
        "restricted"
    )
    for resource in resources:
        if resource["kind"] != "Namespace":
            assert resource["metadata"]["namespace"] == namespace, resource["kind"]
        for container in containers(resource):
            name, tag, _ = split_image(container["image"])
            assert name.endswith("/kasparro") and tag and tag != "latest", container["image"]
