"""A small Dockerfile parser for the tests: instructions, line continuations, stages.

It follows the Dockerfile reference for what this repository uses: ``#`` comment lines
(also inside a continuation, where Docker drops them), ``\\`` at the end of a line continues
the instruction, ``FROM image [AS name]`` opens a stage, ``--flag=value`` options before the
arguments, and the JSON (exec) form of ``CMD``/``ENTRYPOINT``/``RUN``/``HEALTHCHECK CMD``.
It does not expand variables, heredocs or a custom ``# escape=`` directive, and refuses them.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

_FLAG = re.compile(r"--([a-z-]+)(?:=(\S*))?")


class DockerfileError(ValueError):
    """The file uses something this parser does not understand."""


@dataclass(frozen=True)
class Instruction:
    keyword: str
    flags: dict[str, str]
    arguments: str
    line: int

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON array form (``["a", "b"]``), or None for the shell form."""
        return _json_array(self.arguments)

    @property
    def words(self) -> list[str]:
        """The arguments split like a shell would (shell form) or the JSON array."""
        return self.exec_form or shlex.split(self.arguments)


@dataclass
class Stage:
    image: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [ins for ins in self.instructions if ins.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        if not found:
            raise LookupError(f"stage {self.name or self.image} has no {keyword}")
        return found[-1]

    def index(self, instruction: Instruction) -> int:
        return self.instructions.index(instruction)


@dataclass(frozen=True)
class Healthcheck:
    options: dict[str, str]
    command: list[str] | str  # exec form list, or the shell-form string


def _json_array(text: str) -> list[str] | None:
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join continued lines and drop comments and blanks; keep each start line number."""
    if re.match(r"#\s*escape\s*=", text):
        raise DockerfileError("a custom escape directive is not supported")
    joined: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if not current:
            start = number
        if stripped.endswith("\\"):
            current.append(stripped[:-1].strip())
            continue
        current.append(stripped)
        joined.append((start, " ".join(part for part in current if part)))
        current = []
    if current:
        raise DockerfileError(f"line {start}: the file ends inside a continued instruction")
    return joined


def _split_flags(arguments: str) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    while True:
        match = _FLAG.match(arguments)
        if match is None:
            return flags, arguments
        flags[match.group(1)] = match.group(2) if match.group(2) is not None else "true"
        arguments = arguments[match.end() :].lstrip()


def parse(text: str) -> list[Stage]:
    """The stages of a Dockerfile, each with its instructions (``FROM`` itself excluded)."""
    stages: list[Stage] = []
    for number, line in _logical_lines(text):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        flags, arguments = _split_flags(rest.strip())
        if "$" in arguments and keyword not in ("RUN", "CMD", "HEALTHCHECK"):
            raise DockerfileError(f"line {number}: variable expansion is not supported")
        if "<<" in arguments and keyword in ("RUN", "COPY"):
            raise DockerfileError(f"line {number}: heredocs are not supported")
        if keyword == "FROM":
            words = arguments.split()
            if len(words) == 3 and words[1].upper() == "AS":
                stages.append(Stage(words[0], words[2], number))
            elif len(words) == 1:
                stages.append(Stage(words[0], None, number))
            else:
                raise DockerfileError(f"line {number}: cannot read FROM {arguments!r}")
            continue
        if not stages:
            raise DockerfileError(f"line {number}: {keyword} before the first FROM")
        stages[-1].instructions.append(Instruction(keyword, flags, arguments, number))
    if not stages:
        raise DockerfileError("no FROM instruction")
    return stages


def parse_file(path: Path) -> list[Stage]:
    return parse(path.read_text(encoding="utf-8"))


def healthcheck(instruction: Instruction) -> Healthcheck:
    """Split ``HEALTHCHECK [--option=value …] CMD command`` into options and the command."""
    if instruction.keyword != "HEALTHCHECK":
        raise ValueError(f"not a HEALTHCHECK: {instruction.keyword}")
    head, _, command = instruction.arguments.partition(" ")
    if head.upper() != "CMD":
        raise DockerfileError(f"line {instruction.line}: HEALTHCHECK {head} is not CMD …")
    command = command.strip()
    return Healthcheck(instruction.flags, _json_array(command) or command)


def env(stage: Stage) -> dict[str, str]:
    """The ``ENV key=value …`` pairs a stage sets (the legacy ``ENV key value`` too)."""
    values: dict[str, str] = {}
    for instruction in stage.all("ENV"):
        words = shlex.split(instruction.arguments)
        if words and "=" not in words[0]:
            values[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, _, value = word.partition("=")
            values[key] = value
    return values


def shell_steps(instruction: Instruction) -> list[list[str]]:
    """A shell-form ``RUN a && b`` as its ``&&``-separated commands, each split into words."""
    if instruction.exec_form is not None:
        return [instruction.exec_form]
    if any(token in instruction.arguments for token in (";", "||", "|", "`", "$(")):
        raise DockerfileError(f"line {instruction.line}: only `a && b` chains are understood")
    return [shlex.split(step) for step in instruction.arguments.split("&&")]
