"""docker-compose.yml, the parts the container stage cannot run as written: the published
port (the stage publishes nothing) and the environment under each choice the file offers.
The stage itself (tests/containers/test_compose.py) runs the file with docker-compose."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from kasparro.settings import Settings
from tests.conftest import REPO
from tests.containers.engine import loopback_compose

_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def interpolate(value: str, shell: dict[str, str]) -> str:
    """Compose's ``${NAME}`` / ``${NAME:-default}`` with the operator's shell variables."""
    return _VARIABLE.sub(lambda m: shell.get(m.group(1)) or m.group(2) or "", value)


def app_settings(compose: dict[str, Any], shell: dict[str, str]) -> Settings:
    environment = compose["services"]["app"]["environment"]
    return Settings.from_env({key: interpolate(value, shell) for key, value in environment.items()})


def test_published_on_the_hosts_loopback_only(compose: dict[str, Any]) -> None:
    (expose,) = re.findall(r"^EXPOSE (\d+)$", (REPO / "Dockerfile").read_text(), re.M)
    app = compose["services"]["app"]
    assert app["ports"] == [f"127.0.0.1:{expose}:{expose}"]
    assert app["environment"]["PORT"] == expose


def test_the_environment_is_valid_settings_online_and_offline(compose: dict[str, Any]) -> None:
    online = app_settings(compose, {})
    assert online.app.etl.sources == ("coinpaprika", "coingecko", "csv", "csv2")
    assert online.app.admin_token is None
    assert (online.app.etl_interval_seconds, online.retention_days) == (900, 90)
    assert (online.app.graphiql, online.app.introspection) == (False, False)
    assert online.log_format == "json"
    # The file's offline example: `ETL_SOURCES=csv,csv2 docker compose up -d`.
    offline = app_settings(compose, {"ETL_SOURCES": "csv,csv2", "ADMIN_TOKEN": "s3cret"})
    assert offline.app.etl.sources == ("csv", "csv2")
    assert offline.app.admin_token == "s3cret"
    assert "ETL_SOURCES=csv,csv2 docker compose up -d" in (REPO / "docker-compose.yml").read_text()


def test_the_container_stage_changes_only_the_networking(compose: dict[str, Any]) -> None:
    derived = loopback_compose(compose, REPO)
    db, app = derived["services"]["db"], derived["services"]["app"]
    assert (db.pop("network_mode"), db.pop("extra_hosts")) == ("none", ["db:127.0.0.1"])
    assert app.pop("network_mode") == "service:db"
    assert app.pop("build") == {"context": str(REPO), "network": "host"}
    original = yaml.safe_load(yaml.safe_dump(compose))
    del original["services"]["app"]["ports"], original["services"]["app"]["build"]
    assert derived == original
