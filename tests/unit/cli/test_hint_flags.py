"""Every ``--flag`` that a message, hint or help text of the package names exists; so does every
config key a hint names (checked against the config's JSON Schema).

The texts are read from the source (string literals and f-strings, docstrings included); the flags
from the real argparse parsers of every command (sub-subcommands included). A flag written after
``runway <cmd>`` / ``runway-<cmd>`` must belong to that command; any other flag to some command.
Flags of other tools (pip, sbatch, uvicorn, ...) are listed in ``FOREIGN`` with the tool they are for.
"""

from __future__ import annotations

import argparse
import ast
import functools
import re
from pathlib import Path

import pytest

import runway_for_ml
from runway_for_ml.cli.main import COMMANDS, _build_parser, _load_command

PACKAGE = Path(runway_for_ml.__file__).parent
COMMAND_RE = re.compile(r"\brunway[- ](?P<cmd>[a-z]+)\b")
FLAG_RE = re.compile(r"(?<![\w-])--(?P<flag>[a-z][a-z0-9]*(?:-[a-z0-9]+)*)")
# Flags of other programs that texts of the package legitimately mention.
FOREIGN = {
    "--index-url": "pip",
    "--extra-index-url": "pip",
    "--upgrade": "pip",
    "--no-deps": "pip",
    "--partition": "sbatch",
    "--account": "sbatch",
    "--qos": "sbatch",
    "--constraint": "sbatch",
    "--exclude": "sbatch",
    "--gres": "sbatch",
    "--signal": "sbatch",
    "--requeue": "sbatch",
    "--ntasks-per-node": "sbatch",
    "--nodes": "sbatch",
    "--time": "sbatch",
    "--mem": "sbatch",
    "--cpus-per-task": "sbatch",
    "--output": "sbatch",
    "--job-name": "sbatch",
    "--array": "sbatch",
    "--format": "squeue / sacct",
    "--me": "squeue",
    "--noheader": "squeue / sacct",
    "--parsable2": "sacct",
    "--jobs": "sacct",
    "--ext-str": "jsonnet",
    "--ext-code": "jsonnet",
    "--tla-str": "jsonnet",
    "--tla-code": "jsonnet",
    "--local-rank": "torchrun",
    "--nproc-per-node": "torchrun",
    "--nnodes": "torchrun",
    "--no-cache-dir": "pip",
    "--wrap": "sbatch",
    "--kill-on-bad-exit": "srun",
    "--states": "squeue",
    "--others": "git ls-files",
    "--exclude-standard": "git ls-files",
    "--backend-store-uri": "mlflow ui",
    "--mode": "the original framework's main.py (runway migrate)",
    "--host": "the exported runway_model.py",
    "--port": "the exported runway_model.py",
}


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    found = {"--help", "--debug"}
    for action in parser._actions:
        found.update(s for s in action.option_strings if s.startswith("--"))
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _option_strings(sub)
    return found


@pytest.fixture(scope="module")
def flags() -> dict[str, set[str]]:
    parser, subparsers = _build_parser()
    result = {"": _option_strings(parser)}
    for name, sub in subparsers.items():
        _load_command(name).add_arguments(sub)
        result[name] = _option_strings(sub)
    return result


def _texts(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every string literal and f-string (placeholders as ``X``), nested ones not twice."""
    texts: list[tuple[int, str]] = []
    inside_fstring: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                inside_fstring.add(id(value))
                parts.append(value.value if isinstance(value, ast.Constant) else "X")
            texts.append((node.lineno, "".join(str(p) for p in parts)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inside_fstring:
            texts.append((node.lineno, node.value))
    return texts


def _check_text(text: str, flags: dict[str, set[str]]) -> list[str]:
    """The wrong flags of one text: each checked against the command named last before it."""
    everything = set().union(*flags.values())
    problems = []
    for line in text.splitlines():
        for flag_match in FLAG_RE.finditer(line):
            flag = "--" + flag_match["flag"]
            before = line[: flag_match.start()]
            commands = [m["cmd"] for m in COMMAND_RE.finditer(before) if m["cmd"] in COMMANDS]
            if commands:
                if flag not in flags[commands[-1]]:
                    problems.append(f"{flag} (not an option of runway {commands[-1]})")
            elif flag not in everything and flag not in FOREIGN:
                problems.append(f"{flag} (no runway command has it)")
    return problems


def test_every_flag_in_the_package_texts_exists(flags: dict[str, set[str]]) -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, text in _texts(tree):
            for problem in _check_text(text, flags):
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {problem}")
    assert not problems, "\n".join(sorted(set(problems)))


def test_the_check_catches_a_wrong_flag(flags: dict[str, set[str]]) -> None:
    # the hint this test was written for: serve takes a version name, it has no --version
    assert _check_text("pick one with: runway serve digits_V7 --version 3", flags) == [
        "--version (not an option of runway serve)"
    ]
    assert _check_text("runway-train digits --resume --version 3", flags) == []
    assert _check_text("use --no-such-flag", flags) == ["--no-such-flag (no runway command has it)"]


def test_the_version_hint_names_a_version_where_the_command_has_no_flag(tmp_path: Path) -> None:
    from runway_for_ml.errors import RunwayError
    from runway_for_ml.experiment.names import NamedExperiment

    for n in (0, 3):
        (tmp_path / "experiments" / f"digits_V{n}").mkdir(parents=True)
    named = NamedExperiment("digits", tmp_path)
    with pytest.raises(RunwayError) as caught:
        named.version(7)
    assert caught.value.hint == "name one of them, e.g. digits_V3" and "--version" not in str(caught.value)
    with pytest.raises(RunwayError) as caught:
        named.version(7, flag="--version")
    assert caught.value.hint == "pick one of them with --version, e.g. --version 3"


# A config key path in a hint: a framework section, then dotted names (``train.trainer_paras.max_epochs``).
KEY_RE = re.compile(
    r"(?<![\w.$/-])(?P<key>(?:meta|train|test|eval|executor|serve|slurm|search|data_pipeline)(?:\.[A-Za-z_]\w*)+)"
)


def _schema_step(node: object, part: str, defs: dict) -> object:
    """The schema of key ``part`` under ``node``: ``"open"`` where any key is allowed, None where none is."""

    def options(n: object) -> list[dict]:
        while isinstance(n, dict) and "$ref" in n:
            n = defs[n["$ref"].split("/")[-1]]
        if not isinstance(n, dict):
            return []
        for combinator in ("anyOf", "oneOf", "allOf"):
            if combinator in n:
                return [o for sub in n[combinator] for o in options(sub)]
        return [n]

    found = []
    for option in options(node):
        props = option.get("properties")
        if part in (props or {}):
            found.append(props[part])
        elif option.get("additionalProperties") not in (None, False) or (
            props is None and option.get("type") in (None, "object")
        ):
            return "open"
    return {"anyOf": found} if found else None


@functools.cache
def _config_schema() -> dict:
    from runway_for_ml.config.schema import config_json_schema

    return config_json_schema()


def _unknown_keys(text: str) -> list[str]:
    schema = _config_schema()
    defs = schema.get("$defs", {})
    problems = []
    for match in KEY_RE.finditer(text):
        node: object = schema
        for part in match["key"].split("."):
            node = _schema_step(node, part, defs)
            if node == "open":
                break
            if node is None:
                problems.append(f"{match['key']} (no key {part!r} there)")
                break
    return problems


def test_every_config_key_a_hint_names_exists() -> None:
    problems, checked = [], 0
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        hints = [k.value for n in ast.walk(tree) if isinstance(n, ast.Call) for k in n.keywords if k.arg == "hint"]
        for line, text in (t for hint in hints for t in _texts(hint)):
            checked += len(KEY_RE.findall(text))
            problems += [f"{path.relative_to(PACKAGE.parent)}:{line}: {p}" for p in _unknown_keys(text)]
    assert checked >= 10  # the hints do name keys: the walk finds them
    assert not problems, "\n".join(sorted(set(problems)))
    assert _unknown_keys("set train.batchsize=32") == ["train.batchsize (no key 'batchsize' there)"]
    assert _unknown_keys("set train.trainer_paras.max_epochs=3 or test.split") == []
