from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kasparro.etl.config import BUNDLED_DATA
from kasparro.settings import Settings, SettingsError


def test_defaults_follow_the_design_table() -> None:
    settings = Settings.from_env({})
    app, etl = settings.app, settings.app.etl
    assert app.database_url == "sqlite:///kasparro.db"
    assert etl.sources == ("coinpaprika", "coingecko", "csv", "csv2")
    # The CSVs and the seed default to the copies installed with the package (README).
    assert etl.csv_path == BUNDLED_DATA / "data.csv"
    assert etl.csv2_path == BUNDLED_DATA / "data2.csv"
    assert etl.assets_path == BUNDLED_DATA / "assets.csv"
    assert etl.coinpaprika_base_url == "https://api.coinpaprika.com/v1"
    assert etl.coingecko_base_url == "https://api.coingecko.com/api/v3"
    assert etl.coinpaprika_api_key is None and etl.coingecko_api_key is None
    assert etl.coingecko_pages == 1
    assert etl.http_timeout_seconds == 10.0 and etl.http_max_retries == 3
    assert etl.http_max_body_bytes == 16 * 1024 * 1024
    assert etl.http_max_redirects == 3
    assert app.etl_on_startup is True and app.etl_interval_seconds == 0
    assert etl.lookback_seconds == 86400
    assert app.admin_token is None
    assert app.graphiql is True and app.introspection is True
    assert (app.default_page_size, app.max_page_size) == (100, 1000)
    assert (settings.log_format, settings.log_level) == ("console", "INFO")
    # The config objects' own defaults are the same declarations.
    assert settings == Settings()


def test_values_are_parsed_and_normalised() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@127.0.0.1:5432/kasparro",
            "ETL_SOURCES": " CSV , coingecko,csv ",
            "COINGECKO_BASE_URL": "http://127.0.0.1:8080/api/v3/",
            "COINGECKO_PAGES": "3",
            "HTTP_TIMEOUT_SECONDS": "2.5",
            "HTTP_MAX_BODY_BYTES": "4096",
            "HTTP_MAX_REDIRECTS": "0",
            "ETL_ON_STARTUP": "no",
            "GRAPHIQL": "FALSE",
            "LOG_FORMAT": "JSON",
            "LOG_LEVEL": "debug",
            "ADMIN_TOKEN": "s3cret",
            "COINPAPRIKA_API_KEY": "",
        }
    )
    config = settings.app
    assert config.etl.sources == ("csv", "coingecko")
    assert config.etl.coingecko_base_url == "http://127.0.0.1:8080/api/v3"
    assert config.etl.coingecko_pages == 3
    assert (config.etl.http_timeout_seconds, config.etl.http_max_body_bytes) == (2.5, 4096)
    assert config.etl.http_max_redirects == 0
    assert config.etl_on_startup is False and config.graphiql is False
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")
    assert config.admin_token == "s3cret"
    assert config.etl.coinpaprika_api_key is None
    assert config.database_url == "postgresql://u@127.0.0.1:5432/kasparro"


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("ETL_SOURCES", "csv,binance", "unknown source 'binance'"),
        ("ETL_SOURCES", " , ", "names no source"),
        ("COINGECKO_BASE_URL", "ftp://example.com", "expected an http:// or https:// URL"),
        ("COINPAPRIKA_BASE_URL", "not a url", "expected an http:// or https:// URL"),
        ("DATABASE_URL", "mysql://root@localhost/db", "only sqlite:// and postgresql://"),
        ("DATABASE_URL", "::::", "not a database URL"),
        ("COINGECKO_PAGES", "0", "must be at least 1"),
        ("COINGECKO_PAGES", "101", "must be at most 100"),
        ("HTTP_MAX_BODY_BYTES", "100", "must be at least 1024"),
        ("HTTP_MAX_BODY_BYTES", "16MB", "expected a whole number"),
        ("HTTP_MAX_REDIRECTS", "-1", "must be at least 0"),
        ("HTTP_MAX_RETRIES", "-1", "must be at least 0"),
        ("ETL_INTERVAL_SECONDS", "-5", "must be at least 0"),
        ("ETL_LOOKBACK_SECONDS", "1.5", "expected a whole number"),
        ("HTTP_TIMEOUT_SECONDS", "-2", "must be a positive number of seconds"),
        ("HTTP_TIMEOUT_SECONDS", "inf", "must be a positive number of seconds"),
        ("ETL_ON_STARTUP", "maybe", "expected true or false"),
        ("LOG_FORMAT", "xml", "expected one of console, json"),
        ("LOG_LEVEL", "LOUD", "expected one of DEBUG"),
        ("MAX_PAGE_SIZE", "0", "must be at least 1"),
    ],
)
def test_bad_value_names_the_variable(variable: str, value: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")
    assert fragment in str(caught.value)


def test_default_page_size_cannot_exceed_the_maximum() -> None:
    with pytest.raises(
        SettingsError, match=r"^DEFAULT_PAGE_SIZE: 500 is larger than MAX_PAGE_SIZE 200"
    ):
        Settings.from_env({"DEFAULT_PAGE_SIZE": "500", "MAX_PAGE_SIZE": "200"})


@pytest.mark.slow
def test_cli_stops_with_one_clear_line() -> None:
    env = {**os.environ, "ETL_SOURCES": "csv,nope", "DATABASE_URL": "sqlite:///:memory:"}
    result = subprocess.run(
        [sys.executable, "-m", "kasparro.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "kasparro: configuration error: ETL_SOURCES: unknown source 'nope' "
        "(known: coinpaprika, coingecko, csv, csv2)"
    ]
