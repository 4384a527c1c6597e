"""The shell snippets of README.md and docs/*.md run as written (issue 12: the docs cannot drift).

Every line of every ```bash / ```sh / ```shell / ```console block is extracted from the Markdown
(``\\`` continuations joined, ``&&`` split, ``# comments`` dropped) and run in order, as a new user
reading that page would: each page gets a fresh project made by ``runway init`` (the page's own
``runway init X && cd X`` makes another one inside it and moves there). ``cd`` changes the folder,
``name=$(cmd)`` must print exactly one line on stdout, ``cmd > file`` must write the file, and every
command must exit 0.

To keep this fast every project is shrunk right after ``runway init`` (200 rows, 1 epoch unless a
command says otherwise) and commands run in-process. What cannot run here offline in seconds is
skipped with its reason (see :data:`SKIP_RULES`, and commands outside :data:`RUNNABLE`). A block opts
out with a marker on the line before its fence::

    <!-- docs-test: skip (needs a GPU) -->
    ```bash
    runway-train bert --opts train.trainer_paras.accelerator=gpu
    ```
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runway_for_ml.cli.main import main

REPO = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^\s*```\s*(bash|sh|shell|console)\s*$")
END_FENCE = re.compile(r"^\s*```\s*$")
SKIP_MARK = re.compile(r"<!--\s*docs-test:\s*skip\s*(?:\((?P<reason>.*)\))?\s*-->")
CAPTURE = re.compile(r"^(?P<var>[A-Za-z_]\w*)=\$\((?P<inner>.*)\)$")
# `runway` subcommands that finish offline in seconds on the shrunk project. Others (serve, bench,
# jobs, sweep, ...) are skipped with a reason until they are added here.
RUNNABLE = {
    "init",
    "config",
    "prepare",
    "dag",
    "cache",
    "experiment",
    "train",
    "infer",
    "eval",
    "run",
    "ls",
    "diff",
    "embed",
}
# (pattern searched in the command, why it is not run here)
SKIP_RULES: list[tuple[str, str]] = [
    (r"--slurm\b|^runway (jobs|sweep)\b|^scancel\b", "needs a SLURM cluster (tests/integration/slurm runs these)"),
    (r"^bash scripts/", "starts or stops a local SLURM cluster"),
    (r"^make\b", "installs the package or runs the whole test suite"),
    (r"strategy=ddp", "starts several training processes (tests/integration/test_ddp_cpu.py)"),
    (r"benchmarks/", "a benchmark (make bench)"),
    (r"^runway migrate\b", "needs a project of the original runway_for_ml (tests/unit/config/test_migrate.py)"),
]
# Appended to the new project's shared config files: small data, few epochs, for every experiment.
SHRINK = {
    "data_config.libsonnet": "\n+ { data_pipeline+: { transforms+: { 'input:LoadDigits'+: "
    "{ setup_kwargs+: { max_rows: 200 } } } } }  // added by test_docs_snippets.py\n",
    "model_config.libsonnet": "\n+ { train+: { trainer_paras+: { max_epochs: 1 } } }  // added by test_docs_snippets.py\n",
}


@dataclass(frozen=True)
class Snippet:
    source: str  # "docs/cli.md:42"
    command: str
    skip: str | None = None


def _doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _commands(block: list[str]) -> list[str]:
    """The commands of a shell block: continuations joined, prompts and comments dropped, && split."""
    joined: list[str] = []
    pending = ""
    for raw in block:
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    if pending:
        joined.append(pending)
    out = []
    for line in joined:
        line = _without_comment(line).strip()
        if line.startswith("$ "):
            line = line[2:]
        for part in re.split(r"\s&&\s", line):
            part = re.sub(r"\s+", " ", part).strip()
            if part:
                out.append(part)
    return out


def _without_comment(line: str) -> str:
    """``line`` up to a ``#`` that starts a shell comment (outside quotes, at the start or after a blank)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def extract_snippets() -> list[Snippet]:
    snippets: list[Snippet] = []
    for path in _doc_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        rel = path.relative_to(REPO).as_posix()
        i = 0
        while i < len(lines):
            if not FENCE.match(lines[i]):
                i += 1
                continue
            previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            marker = SKIP_MARK.search(previous)
            start = i
            i += 1
            block = []
            while i < len(lines) and not END_FENCE.match(lines[i]):
                block.append(lines[i])
                i += 1
            for command in _commands(block):
                reason = None
                if marker:
                    reason = marker.group("reason") or "marked skip in the docs"
                snippets.append(Snippet(f"{rel}:{start + 1}", command, reason))
            i += 1
    return snippets


def _skip_reason(command: str) -> str | None:
    for pattern, reason in SKIP_RULES:
        if re.search(pattern, command):
            return reason
    words = shlex.split(command)
    if not words:
        return "empty"
    if CAPTURE.match(command):
        return _skip_reason(CAPTURE.match(command)["inner"])
    program = words[0]
    if program == "cd":
        return None
    if program == "runway":
        sub = next((w for w in words[1:] if not w.startswith("-")), None)
        if sub in RUNNABLE or (sub is None and words[1:] == ["--version"]):
            return None
        return f"`runway {sub}` is not in this test's list of commands that finish offline in seconds"
    if program.startswith("runway-") and program[len("runway-") :] in RUNNABLE:
        return None
    return f"not a runway command ({program})"


SNIPPETS = extract_snippets()


def test_the_extractor_finds_the_documented_commands() -> None:
    commands = [s.command for s in SNIPPETS]
    assert "runway init myproj" in commands and "cd myproj" in commands  # README's `a && b`
    assert any(c.startswith("runway-train digits") for c in commands)
    assert any(CAPTURE.match(c) for c in commands)  # docs/cli.md: name=$(runway-infer ...)
    assert sum(1 for s in SNIPPETS if s.skip is None and _skip_reason(s.command) is None) >= 15
    marked = _commands(["runway dag digits \\", "   --format mermaid  # a comment", "a && b"])
    assert marked == ["runway dag digits --format mermaid", "a", "b"]


@dataclass
class Walk:
    """One page's walk-through: where it is, which projects are too heavy to train in, what was skipped."""

    cwd: Path
    heavy: dict[Path, str] = field(default_factory=dict)  # project root -> why its training is skipped
    skipped: bool = False


@pytest.fixture(scope="module")
def walks() -> dict[str, Walk]:
    """Each page's walk-through, created at its first snippet."""
    return {}


def _run(words: list[str], cwd: Path) -> int:
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        if words[0] == "runway":
            return main(words[1:])
        return main(words[1:], only=words[0][len("runway-") :])
    finally:
        os.chdir(previous)


def _shrink(project: Path) -> None:
    for name, patch in SHRINK.items():
        config = project / "configs" / name
        assert config.is_file(), f"runway init made no {config}"
        config.write_text(config.read_text(encoding="utf-8").rstrip() + patch, encoding="utf-8")


def _subcommand(words: list[str]) -> str | None:
    if words[0].startswith("runway-"):
        return words[0][len("runway-") :]
    return next((w for w in words[1:] if not w.startswith("-")), None)


def _option(words: list[str], name: str) -> str | None:
    return words[words.index(name) + 1] if name in words[:-1] else None


def _walk_skip(walk: Walk, words: list[str]) -> str | None:
    """Why this step of the walk-through cannot run here (None when it can)."""
    if words[0] == "cd":
        if not (walk.cwd / words[1]).is_dir() and walk.skipped:
            return "its folder comes from a command skipped above"
        return None
    if _subcommand(words) in ("train", "run", "infer", "eval"):
        for root, why in walk.heavy.items():
            if walk.cwd == root or root in walk.cwd.parents:
                return why
    return None


@pytest.mark.slow
@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"{s.source} {s.command[:50]}" for s in SNIPPETS])
def test_documented_command_runs(
    snippet: Snippet,
    walks: dict[str, Walk],
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    page = snippet.source.rsplit(":", 1)[0]
    if page not in walks:
        project = tmp_path_factory.mktemp("docs") / "project"
        assert main(["init", str(project)]) == 0
        _shrink(project)
        walks[page] = Walk(project)
    walk = walks[page]
    capture = CAPTURE.match(snippet.command)
    words = shlex.split(capture["inner"] if capture else snippet.command)
    reason = snippet.skip or _skip_reason(snippet.command) or _walk_skip(walk, words)
    if reason:
        walk.skipped = walk.skipped or words[0].startswith("runway")
        pytest.skip(reason)
    cwd = walk.cwd
    if words[0] == "cd":
        target = (cwd / words[1]).resolve()
        assert target.is_dir(), f"{snippet.source}: no folder {target}"
        walk.cwd = target
        return
    redirect = None
    if ">" in words:
        at = words.index(">")
        words, redirect = words[:at], words[at + 1]
    capsys.readouterr()
    if words[:2] == ["runway", "--version"]:
        with pytest.raises(SystemExit) as exit_info:
            _run(words, cwd)
        code = exit_info.value.code
    else:
        code = _run(words, cwd)
    out, err = capsys.readouterr()
    assert code == 0, f"{snippet.source}: `{snippet.command}` exited {code}\n{err[-3000:]}"
    if _subcommand(words) == "init" and "--list-templates" not in words:
        target = (cwd / next((w for w in words[1:] if not w.startswith("-") and w != "init"), ".")).resolve()
        template = _option(words, "--template") or "digits"
        if template == "digits":
            _shrink(target)
        else:  # trains transformers: minutes on a CPU, run by its own tests
            walk.heavy[target] = f"trains on the {template} template (tests/integration/test_{template}_template.py)"
    if capture:
        lines = out.splitlines()
        assert len(lines) == 1 and lines[0].strip(), f"{snippet.source}: $(...) captured {out!r}"
    if redirect:
        (cwd / redirect).write_text(out, encoding="utf-8")
        assert out.strip(), f"{snippet.source}: nothing on stdout for > {redirect}"
    _check_what_the_page_promises(snippet, words, out, err, cwd)


def _check_what_the_page_promises(snippet: Snippet, words: list[str], out: str, err: str, cwd: Path) -> None:
    """A documented ``--opts`` changes something; ``runway diff`` of two documented runs shows it; a
    documented ``--resume`` resumes (a completed version only answers "nothing to resume")."""
    import json

    sub = _subcommand(words)
    if sub in ("train", "run") and "--opts" in words and "--resume" not in words:
        folder = re.search(r"^version folder: (.+)$", err, re.M)
        assert folder, f"{snippet.source}: `{snippet.command}` printed no version folder"
        manifest = json.loads((Path(folder[1]) / "train" / "manifest.json").read_text(encoding="utf-8"))
        same = [o["path"] for o in manifest.get("overrides") or [] if "previous" in o and o["value"] == o["previous"]]
        assert not same, f"{snippet.source}: --opts sets {', '.join(same)} to the config's own value: nothing changes"
    if sub == "diff":
        from runway_for_ml.experiment.diff import diff_versions
        from runway_for_ml.experiment.names import resolve_version

        names = [w for w in words[1:] if not w.startswith("-") and w != "diff"]
        project = next(p for p in [cwd, *cwd.parents] if (p / ".runway").exists())
        result = diff_versions(*(resolve_version(n, project) for n in names[:2]))
        changed = [r["path"] for key in ("config", "data_nodes", "consumed") for r in result[key] if r["a"] != r["b"]]
        assert changed, f"{snippet.source}: `{snippet.command}` shows no difference in config, data or lineage"
    if sub == "train" and "--resume" in words:
        assert "nothing to resume" not in out, f"{snippet.source}: `{snippet.command}` has nothing to resume there"
