"""A small renderer for the kustomize features k8s/ uses, so the tests can render the
overlays where no kustomize binary is installed (no package registry here ships one).

It does what ``kustomize build`` / ``kubectl kustomize`` do for: ``resources`` (files and
directories with their own kustomization), ``namespace``, ``images`` (``newName``,
``newTag``, ``digest``) and ``patches`` given as inline JSON 6902 operations with a
``target`` by kind and name. Anything else in a kustomization is refused, never ignored;
tests/ops/test_kubernetes.py compares the output with ``kubectl kustomize`` where that
exists.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "PriorityClass",
    "StorageClass",
}
_OPS = {"add", "remove", "replace", "test"}


class KustomizeError(ValueError):
    """The kustomization uses something this renderer does not do, or does not apply."""


def render(directory: Path) -> list[Resource]:
    """The resources ``kustomize build directory`` would print, in file order."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise KustomizeError(f"{directory}: unsupported field(s) {', '.join(sorted(unknown))}")
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            resources += render(path)
        else:
            documents = yaml.safe_load_all(path.read_text(encoding="utf-8"))
            resources += [document for document in documents if document]
    for patch in kustomization.get("patches", []):
        _patch(resources, patch, directory)
    for image in kustomization.get("images", []):
        for resource in resources:
            _set_image(resource, image)
    namespace = kustomization.get("namespace")
    if namespace:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = namespace
    keys = [_key(resource) for resource in resources]
    duplicates = {key for key in keys if keys.count(key) > 1}
    if duplicates:
        raise KustomizeError(f"{directory}: duplicate resources {sorted(duplicates)}")
    return resources


def _key(resource: Resource) -> tuple[str, str, str]:
    metadata = resource["metadata"]
    return resource["kind"], metadata.get("namespace", ""), metadata["name"]


def _patch(resources: list[Resource], patch: dict[str, Any], directory: Path) -> None:
    if set(patch) != {"target", "patch"} or set(patch["target"]) - {"kind", "name"}:
        raise KustomizeError(f"{directory}: only inline JSON 6902 patches with a kind/name target")
    target = patch["target"]
    matched = [
        resource
        for resource in resources
        if resource["kind"] == target.get("kind", resource["kind"])
        and resource["metadata"]["name"] == target.get("name", resource["metadata"]["name"])
    ]
    if not matched:
        raise KustomizeError(f"{directory}: patch target {target} matches no resource")
    operations = yaml.safe_load(patch["patch"])
    for resource in matched:
        for operation in operations:
            apply_operation(resource, operation)


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise KustomizeError(f"not a JSON pointer: {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _step(node: Any, part: str) -> Any:
    if isinstance(node, list):
        return node[int(part)]
    return node[part]


def apply_operation(document: Resource, operation: dict[str, Any]) -> None:
    """One RFC 6902 operation (add, remove, replace, test) applied in place."""
    op = operation["op"]
    if op not in _OPS:
        raise KustomizeError(f"unsupported JSON patch operation {op!r}")
    *parents, last = _pointer(operation["path"])
    try:
        parent: Any = document
        for part in parents:
            parent = _step(parent, part)
        if op == "test":
            if _step(parent, last) != operation["value"]:
                raise KustomizeError(f"test failed at {operation['path']}")
        elif op == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        elif op == "replace":
            _step(parent, last)  # must exist
            parent[int(last) if isinstance(parent, list) else last] = copy.deepcopy(
                operation["value"]
            )
        elif isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            parent.insert(index, copy.deepcopy(operation["value"]))
        else:
            parent[last] = copy.deepcopy(operation["value"])
    except (KeyError, IndexError, ValueError, TypeError):
        raise KustomizeError(f"{op} {operation['path']}: no such location") from None


def pod_specs(resource: Resource) -> Iterator[dict[str, Any]]:
    """The pod specs inside a workload (a Pod's own, a template's, a CronJob's job's)."""
    spec = resource.get("spec", {})
    if resource["kind"] == "Pod":
        yield spec
    elif resource["kind"] == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]
    elif "template" in spec:
        yield spec["template"]["spec"]


def _set_image(resource: Resource, image: dict[str, str]) -> None:
    for pod in pod_specs(resource):
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            name, tag, digest = split_image(container["image"])
            if name != image["name"]:
                continue
            name = image.get("newName", name)
            if "digest" in image:
                container["image"] = f"{name}@{image['digest']}"
            else:
                tag = image.get("newTag", tag)
                container["image"] = (
                    name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
                )


def split_image(reference: str) -> tuple[str, str | None, str | None]:
    """``registry:5000/name:tag@sha256:…`` → name (with registry), tag, digest."""
    rest, _, digest = reference.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        return rest[:colon], rest[colon + 1 :], digest or None
    return rest, None, digest or None
