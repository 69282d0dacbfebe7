"""The Dockerfile, checked without a Docker engine: its structure, its HEALTHCHECK and CMD run
for real against a served app, and (slow) its pip steps replayed into a fresh venv."""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.ops.dockerfile import (
    DockerfileError,
    Instruction,
    Stage,
    env,
    healthcheck,
    parse,
    parse_file,
    shell_steps,
)
from tests.servers import free_port

DOCKERFILE = REPO / "Dockerfile"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_file(DOCKERFILE)


def copy_sources(instruction: Instruction) -> tuple[list[str], str]:
    *sources, destination = instruction.words
    return sources, destination


def dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


# -- the parser itself ---------------------------------------------------------------------


def test_parser_joins_continuations_skips_comments_and_splits_stages() -> None:
    stages = parse(
        "# a comment\n"
        "FROM python:3.11 AS one\n"
        "RUN echo a \\\n"
        "    # dropped, as Docker does\n"
        "    && echo b\n"
        "\n"
        "FROM --platform=linux/amd64 debian:12\n"
        "COPY --from=one --chown=1:1 /a /b\n"
        'CMD ["x", "y"]\n'
        "cmd x y\n"
    )
    assert [(stage.image, stage.name, stage.line) for stage in stages] == [
        ("python:3.11", "one", 2),
        ("debian:12", None, 7),
    ]
    (run,) = stages[0].instructions
    assert (run.keyword, run.arguments, run.line) == ("RUN", "echo a && echo b", 3)
    assert shell_steps(run) == [["echo", "a"], ["echo", "b"]]
    copy, exec_cmd, shell_cmd = stages[1].instructions
    assert copy.flags == {"from": "one", "chown": "1:1"}
    assert copy.words == ["/a", "/b"]
    assert exec_cmd.exec_form == ["x", "y"]
    assert (shell_cmd.keyword, shell_cmd.exec_form, shell_cmd.words) == ("CMD", None, ["x", "y"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("RUN true\n", "RUN before the first FROM"),
        ("FROM a\nRUN true \\\n", "ends inside a continued instruction"),
        ("# escape=`\nFROM a\n", "custom escape directive"),
        ("FROM a\nCOPY $SRC /x\n", "variable expansion"),
        ("FROM a b\n", "cannot read FROM"),
        ("", "no FROM instruction"),
    ],
)
def test_parser_refuses_what_it_does_not_understand(text: str, message: str) -> None:
    with pytest.raises(DockerfileError, match=message):
        parse(text)


# -- the properties the issue asks for -----------------------------------------------------


def test_two_stages_wheels_then_slim_runtime(stages: list[Stage]) -> None:
    build, runtime = stages
    assert (build.image, build.name) == ("python:3.11-slim", "build")
    assert (runtime.image, runtime.name) == ("python:3.11-slim", "runtime")
    assert runtime.image.endswith("-slim")
    (wheel,) = build.all("RUN")
    assert shell_steps(wheel) == [["pip", "wheel", "--no-cache-dir", "--wheel-dir", "/wheels", "."]]
    (wheels,) = runtime.all("COPY")[:1]
    assert wheels.flags == {"from": "build"}
    assert wheels.words == ["/wheels", "/wheels"]
    install = next(run for run in runtime.all("RUN") if "pip" in run.arguments)
    pip_install, cleanup = shell_steps(install)
    # Only the wheels built in stage 1: no index, no source tree in the runtime image.
    assert pip_install[:2] == ["pip", "install"]
    assert "--no-index" in pip_install
    assert pip_install[pip_install.index("--find-links") + 1] == "/wheels"
    assert pip_install[-1] == PYPROJECT["project"]["name"] == "kasparro"
    assert cleanup == ["rm", "-rf", "/wheels"]
    assert runtime.index(wheels) < runtime.index(install)


def test_runs_as_a_non_root_user_created_in_the_image(stages: list[Stage]) -> None:
    runtime = stages[-1]
    user = runtime.last("USER")
    assert user.arguments not in ("root", "0") and not user.arguments.startswith(("root:", "0:"))
    assert runtime.index(user) < runtime.index(runtime.last("CMD"))
    assert runtime.index(user) < runtime.index(runtime.last("HEALTHCHECK"))
    created = [step for run in runtime.all("RUN") for step in shell_steps(run)]
    useradd = next(step for step in created if step[0] == "useradd")
    assert useradd[-1] == user.arguments == "kasparro"
    assert useradd[useradd.index("--uid") + 1] != "0"
    # The working directory is the user's home, so the default SQLite file is writable.
    assert useradd[useradd.index("--home-dir") + 1] == runtime.last("WORKDIR").arguments == "/app"


def test_one_port_8000_also_taken_from_port(stages: list[Stage]) -> None:
    runtime = stages[-1]
    assert [expose.arguments for expose in runtime.all("EXPOSE")] == ["8000"]
    assert env(runtime)["PORT"] == "8000"
    assert all(not stage.all("EXPOSE") for stage in stages[:-1])


def test_cmd_is_kasparro_serve_on_all_interfaces(stages: list[Stage]) -> None:
    runtime = stages[-1]
    assert runtime.last("CMD").exec_form == ["kasparro", "serve", "--host", "0.0.0.0"]
    assert not runtime.all("ENTRYPOINT")
    assert PYPROJECT["project"]["scripts"]["kasparro"] == "kasparro.cli:main"


def test_healthcheck_gets_health_with_urllib(stages: list[Stage]) -> None:
    check = healthcheck(stages[-1].last("HEALTHCHECK"))
    assert check.options == {
        "interval": "30s",
        "timeout": "5s",
        "start-period": "30s",
        "retries": "3",
    }
    assert isinstance(check.command, str)
    assert check.command.startswith("python -c ")
    assert "urllib.request.urlopen(" in check.command and "/health" in check.command
    assert "os.environ.get('PORT', '8000')" in check.command
    assert "curl" not in check.command and "wget" not in check.command


def test_copied_paths_exist_and_are_not_ignored(stages: list[Stage]) -> None:
    ignored = dockerignore()
    copied: list[str] = []
    for stage in stages:
        for copy in stage.all("COPY") + stage.all("ADD"):
            if "from" in copy.flags:
                continue
            sources, _ = copy_sources(copy)
            copied += sources
    assert copied == ["pyproject.toml", "README.md", "kasparro", "db", "etl", "gql", "data"]
    for source in copied:
        assert (REPO / source).exists(), source
        assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source
    # Everything the wheel needs is in the build stage: each package setuptools finds and
    # the readme pyproject.toml names.
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = sorted(
        path.name
        for path in REPO.iterdir()
        if (path / "__init__.py").exists() and any(fnmatch.fnmatch(path.name, p) for p in include)
    )
    build_copied = [source for copy in stages[0].all("COPY") for source in copy_sources(copy)[0]]
    assert packages == ["db", "etl", "gql", "kasparro"]
    assert set(packages) | {"pyproject.toml", PYPROJECT["project"]["readme"]} == set(build_copied)
    # The runtime image gets the ETL's default inputs at WORKDIR/data.
    data_copy = stages[-1].last("COPY")
    assert copy_sources(data_copy) == (["data"], "./data")
    assert data_copy.flags == {"chown": "kasparro:kasparro"}


# -- the HEALTHCHECK and CMD, run for real -------------------------------------------------


@pytest.fixture
def served_by_cmd(stages: list[Stage], tmp_path: Path) -> Iterator[dict[str, str]]:
    """Run the image's CMD (``kasparro serve --host 0.0.0.0``) with the image's ENV plus a
    free PORT; yield that environment once /health answers."""
    runtime = stages[-1]
    bin_dir = str(Path(sys.executable).parent)
    environ = {
        **os.environ,
        **env(runtime),
        "PORT": str(free_port()),
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'kasparro.db'}",
        "ETL_ON_STARTUP": "false",
    }
    command = runtime.last("CMD").exec_form
    assert command is not None
    with (tmp_path / "server.log").open("w") as log:
        server = subprocess.Popen(
            [shutil.which(command[0], path=environ["PATH"]) or command[0], *command[1:]],
            env=environ,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            yield environ
        finally:
            server.terminate()
            server.wait(timeout=20)


def run_healthcheck(command: str, environ: dict[str, str]) -> int:
    return subprocess.run(
        ["/bin/sh", "-c", command], env=environ, capture_output=True, timeout=10, check=False
    ).returncode


def test_healthcheck_passes_against_the_cmd_and_fails_without_it(
    stages: list[Stage], served_by_cmd: dict[str, str], tmp_path: Path
) -> None:
    check = healthcheck(stages[-1].last("HEALTHCHECK"))
    assert isinstance(check.command, str)
    # The server migrates first; give it the image's start period (30 s) to answer.
    deadline = time.monotonic() + 30
    while run_healthcheck(check.command, served_by_cmd) != 0:
        if time.monotonic() > deadline:
            log = (tmp_path / "server.log").read_text()
            pytest.fail(f"HEALTHCHECK never passed on PORT {served_by_cmd['PORT']}:\n{log}")
        time.sleep(0.2)
    elsewhere = {**served_by_cmd, "PORT": str(free_port())}
    assert run_healthcheck(check.command, elsewhere) == 1


# -- the install steps, replayed -----------------------------------------------------------


def replay_copies(stage: Stage, context: Path, root: Path) -> Path:
    """Do a stage's context COPYs into ``root`` (standing for its WORKDIR); return it."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    root.mkdir(parents=True)
    for copy in stage.all("COPY"):
        sources, destination = copy_sources(copy)
        target = root / destination
        for source in sources:
            origin = context / source
            into = target / source if destination.endswith("/") else target
            if origin.is_dir():
                shutil.copytree(origin, into, ignore=ignore)
            else:
                into.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, into)
    return root


def replay_pip(run: Instruction, pip: list[str], wheels: Path, cwd: Path, **env: str) -> None:
    """Run the ``pip …`` steps of a RUN (and only those) with /wheels mapped to ``wheels``."""
    for step in shell_steps(run):
        if step[0] != "pip":
            continue
        argv = [*pip, *(str(wheels) if word == "/wheels" else word for word in step[1:])]
        result = subprocess.run(
            argv,
            cwd=cwd,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert result.returncode == 0, f"{' '.join(argv)}\n{result.stdout}\n{result.stderr}"


@pytest.mark.slow
def test_the_dockerfile_pip_steps_build_an_installable_service(
    stages: list[Stage], tmp_path: Path
) -> None:
    build, runtime = stages
    wheels = tmp_path / "wheels"
    source = replay_copies(build, REPO, tmp_path / "src")
    (wheel_run,) = build.all("RUN")
    replay_pip(wheel_run, [sys.executable, "-m", "pip"], wheels, source)

    (project_wheel,) = wheels.glob("kasparro-*.whl")
    with zipfile.ZipFile(project_wheel) as archive:
        names = set(archive.namelist())
    shipped = {
        f"db/migrations/versions/{path.name}" for path in REPO.glob("db/migrations/versions/*.py")
    }
    assert "db/migrations/versions/0001_initial_schema.py" in shipped
    assert shipped | {"db/migrations/env.py", "db/migrations/script.py.mako"} <= names
    assert not any(name.startswith("tests/") for name in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = next(run for run in runtime.all("RUN") if "pip" in run.arguments)
    # No config file and no extra find-links: the wheels directory is all pip may use.
    isolated = {"PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": ""}
    replay_pip(install, [str(venv / "bin" / "python"), "-m", "pip"], wheels, tmp_path, **isolated)

    # Run from outside the checkout so nothing can be imported from the source tree.
    workdir = tmp_path / "app"
    workdir.mkdir()
    clean = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    clean["DATABASE_URL"] = f"sqlite:///{workdir / 'kasparro.db'}"
    kasparro = str(venv / "bin" / "kasparro")
    helped = subprocess.run(
        [kasparro, "--help"], cwd=workdir, env=clean, capture_output=True, text=True, timeout=60
    )
    assert helped.returncode == 0, helped.stderr
    for command in ("serve", "migrate", "export-schema", "prune"):
        assert command in helped.stdout
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import db.migrate; print(db.migrate.MIGRATIONS)"],
        cwd=workdir,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    migrations = Path(where.stdout.strip())
    assert migrations.is_relative_to(venv)
    assert (migrations / "versions" / "0001_initial_schema.py").is_file()
    migrated = subprocess.run(
        [kasparro, "migrate"], cwd=workdir, env=clean, capture_output=True, text=True, timeout=60
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "database at revision" in migrated.stderr
    assert (workdir / "kasparro.db").is_file()
