"""docker-compose.yml, checked without a Docker engine: its structure and its wiring."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from kasparro.settings import Settings
from tests.conftest import REPO
from tests.ops.dockerfile import parse_file


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_two_services_and_a_named_volume(compose: dict[str, Any]) -> None:
    assert set(compose) == {"services", "volumes"}
    assert set(compose["services"]) == {"db", "app"}
    assert compose["volumes"] == {"pgdata": None}
    db = compose["services"]["db"]
    assert db["image"] == "postgres:16"
    assert db["volumes"] == ["pgdata:/var/lib/postgresql/data"]
    assert db["restart"] == compose["services"]["app"]["restart"] == "unless-stopped"


def test_database_healthcheck_uses_pg_isready_for_its_own_user_and_database(
    compose: dict[str, Any],
) -> None:
    db = compose["services"]["db"]
    check = db["healthcheck"]
    assert check["test"] == ["CMD-SHELL", "pg_isready -U kasparro -d kasparro"]
    assert (check["interval"], check["timeout"], check["retries"]) == ("5s", "5s", 10)
    environment = db["environment"]
    assert check["test"][1].split()[2::2] == [
        environment["POSTGRES_USER"],
        environment["POSTGRES_DB"],
    ]


def test_app_waits_for_a_healthy_database_and_is_wired_to_it(compose: dict[str, Any]) -> None:
    app = compose["services"]["app"]
    assert app["build"] == "."
    assert app["depends_on"] == {"db": {"condition": "service_healthy"}}
    postgres = compose["services"]["db"]["environment"]
    url = make_url(app["environment"]["DATABASE_URL"])
    assert (url.drivername, url.host, url.port) == ("postgresql", "db", 5432)
    assert (url.username, url.password, url.database) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )


def test_app_environment_is_valid_production_settings(compose: dict[str, Any]) -> None:
    environment = dict(compose["services"]["app"]["environment"])
    assert all(isinstance(value, str) for value in environment.values())
    # ADMIN_TOKEN comes from the operator's shell; unset, it is empty (runEtl disabled).
    assert environment.pop("ADMIN_TOKEN") == "${ADMIN_TOKEN:-}"
    port = environment.pop("PORT")
    settings = Settings.from_env(environment)
    assert settings.etl_interval_seconds == 900
    assert settings.etl_on_startup is True
    assert (settings.graphiql, settings.introspection) == (False, False)
    assert settings.log_format == "json"
    assert settings.retention_days == 90
    assert port == "8000"


def test_published_port_is_the_one_the_image_exposes(compose: dict[str, Any]) -> None:
    runtime = parse_file(REPO / "Dockerfile")[-1]
    (expose,) = runtime.all("EXPOSE")
    app = compose["services"]["app"]
    assert app["ports"] == [f"{expose.arguments}:{expose.arguments}"] == ["8000:8000"]
    assert app["environment"]["PORT"] == expose.arguments
