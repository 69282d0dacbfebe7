"""The container tests run only in the container stage (``.ci/containers``), which starts a
private Docker engine and builds the stand-in base images; elsewhere they skip, saying so."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import REPO
from tests.containers.engine import OPT_IN, docker, docker_cli, run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get(OPT_IN) == "1":
        return
    skip = pytest.mark.skip(
        reason=f"container stage: needs a Docker engine and {OPT_IN}=1; run .ci/containers"
    )
    for item in items:
        if item.path.parent.name == "containers":
            item.add_marker(skip)


@pytest.fixture(scope="session")
def image_build() -> Iterator[tuple[str, str]]:
    """The project's image, built from the unmodified Dockerfile (the legacy builder, on the
    host's network), and the build's output. Kept for the whole session, so docker-compose's
    build of the same Dockerfile finds every layer in the cache."""
    tag = f"kasparro-ci-image:{os.getpid()}"
    output = run(
        [docker_cli(), "build", "--network", "host", "--tag", tag, str(REPO)],
        timeout=900,
        merge_stderr=True,
    )
    yield tag, output
    docker("rmi", "--force", tag, check=False)


@pytest.fixture(scope="session")
def image(image_build: tuple[str, str]) -> str:
    return image_build[0]
