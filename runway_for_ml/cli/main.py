"""The ``runway`` command and the hyphenated ``runway-*`` commands.

Each subcommand lives in its own module under ``runway_for_ml.cli`` and exposes::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int: ...

Command modules import only light modules at import time; torch, lightning, datasets and
transformers are imported inside ``run`` so that ``runway --help`` stays fast.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from collections.abc import Sequence

from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.signals import sigterm_as_interrupt
from runway_for_ml.version import __version__

# name -> (module under runway_for_ml.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init_cmd", "create a new runway project from the template"),
    "config": ("config_cmd", "print the resolved config (JSON) with overrides marked"),
    "prepare": ("prepare_cmd", "run the data pipeline of a config or experiment"),
    "dag": ("dag_cmd", "show the data pipeline DAG with each node's cache status"),
    "cache": ("cache_cmd", "list or garbage-collect cache entries"),
    "experiment": ("experiment_cmd", "create an experiment config (optionally --from another)"),
    "train": ("train_cmd", "train an experiment in a new version folder"),
    "infer": ("infer_cmd", "run inference (and evaluation) with a trained experiment"),
    "eval": ("eval_cmd", "recompute metrics from saved predictions"),
    "run": ("run_cmd", "train, infer on the test split, and evaluate"),
    "ls": ("ls_cmd", "list experiments, versions, status and key metric"),
    "diff": ("diff_cmd", "compare two experiment versions"),
    "compare": ("compare_cmd", "one offline HTML page comparing many versions: table, curves, parallel coordinates"),
    "embed": ("embed_cmd", "embed a split with a trained version; 2-D projection as PNG and interactive HTML"),
    "jobs": ("jobs_cmd", "list SLURM jobs submitted by runway"),
    "sweep": ("sweep_cmd", "status of a sweep; --retry-failed resubmits failed points"),
    "search": ("search_cmd", "hyperparameter search on Optuna: every trial a version, pruning, resume, SLURM workers"),
    "serve": ("serve_cmd", "serve a trained experiment over HTTP (Runway Model SDK protocol)"),
    "bench": ("bench_cmd", "benchmark a served experiment: load time, latency, req/s, memory"),
    "export": ("export_cmd", "export a trained experiment as a self-contained Runway model folder"),
    "migrate": ("migrate_cmd", "rewrite a config of the original runway_for_ml into this format, key by key"),
}


def _build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:

    parser = argparse.ArgumentParser(prog="runway", description="runway_for_ml: cached data pipelines and experiments")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"runway_for_ml {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    built: dict[str, argparse.ArgumentParser] = {}
    for name, (_module, help_text) in COMMANDS.items():
        built[name] = subparsers.add_parser(name, help=help_text, description=help_text)
    return parser, built


def _load_command(name: str):
    module_name, _ = COMMANDS[name]
    return importlib.import_module(f"runway_for_ml.cli.{module_name}")


def main(argv: Sequence[str] | None = None, *, only: str | None = None) -> int:
    """Entry point of ``runway``; ``only`` selects a single command for the ``runway-*`` scripts."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    # The launcher replays this command line inside a SLURM job (runway_for_ml.launcher).
    full_argv = [only, *argv] if only is not None else list(argv)
    # `--debug` is accepted anywhere, also after a sub-subcommand (`runway cache ls --debug`) whose
    # parser does not know it; it is taken out here and given to every command as args.debug.
    argv = [a for a in argv if a != "--debug"]
    if only is not None:
        # `runway-train …` is `runway train …` with its own program name in usage and help.
        help_text = COMMANDS[only][1]
        parser = argparse.ArgumentParser(prog=f"runway-{only}", description=help_text)
        _load_command(only).add_arguments(parser)
        parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
        args = parser.parse_args(argv)
        args.command = only
    else:
        parser, subparsers = _build_parser()
        # Only the chosen command's module is imported, and only it adds its arguments.
        chosen = next((a for a in argv if not a.startswith("-")), None)
        if chosen in subparsers:
            _load_command(chosen).add_arguments(subparsers[chosen])
            subparsers[chosen].add_argument("--debug", action="store_true", help="show full tracebacks on errors")
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return 2
    args._runway_argv = full_argv
    args.debug = debug
    return run_command(args.command, args, debug=debug)


def run_command(name: str, args: argparse.Namespace, *, debug: bool = False) -> int:
    """Run one parsed command, turning user errors into exit code 2 with one clear message."""

    previous_debug = os.environ.get("RUNWAY_DEBUG")
    # `--ext-var NAME=VALUE` is set in the environment while the command runs (cli/preflight.py).
    ext_names = [str(item).partition("=")[0] for item in getattr(args, "ext_var", None) or []]
    previous_ext = {name: os.environ.get(name) for name in ext_names}
    if debug:
        os.environ["RUNWAY_DEBUG"] = "1"  # for the processes this command starts (DDP ranks, jobs)
    try:
        with sigterm_as_interrupt():
            code = _load_command(name).run(args)
        return int(code or 0)
    except RunwayError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        _print_error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _print_error(_interrupted_message(name, args))
        return INTERRUPTED
    except OSError as exc:
        # A name or path the file system cannot hold is the user's to shorten, wherever it was typed.
        if exc.errno != errno.ENAMETOOLONG:
            raise
        if debug:
            import traceback

            traceback.print_exc()
        name = str(exc.filename or "")
        _print_error(
            f"name too long for the file system: {name[:60] + '...' if len(name) > 60 else name}\n"
            "  hint: use experiment names and inference suffixes of at most 100 characters"
        )
        return 2
    except SystemExit as exc:
        # Lightning answers Ctrl-C / SIGTERM during fit with sys.exit(1) inside its KeyboardInterrupt
        # handler; the run was interrupted (and marked so), not failed.
        if isinstance(exc.__context__, KeyboardInterrupt):
            _print_error(_interrupted_message(name, args))
            return INTERRUPTED
        raise
    finally:
        # In-process callers (tests, notebooks) run the next command without this one's --debug/--ext-var.
        for name, value in [("RUNWAY_DEBUG", previous_debug), *previous_ext.items()]:
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# Exit code of a command stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
INTERRUPTED = 130


def _interrupted_message(name: str, args: argparse.Namespace) -> str:
    """``interrupted``, and for a training run how to continue it from its last checkpoint."""
    experiment = getattr(args, "experiment", None)
    if name in ("train", "run") and experiment and not getattr(args, "slurm", False):
        number = getattr(args, "version", None) if getattr(args, "resume", False) else None
        which = f" --version {number}" if number is not None else ""
        return (
            "interrupted\n"
            f"  the version folder is kept; continue it from its last checkpoint: "
            f"runway-train {experiment} --resume{which}"
        )
    return "interrupted"


def _print_error(message: str) -> None:
    first, _, rest = message.partition("\n")
    sys.stderr.write(f"error: {first}\n")
    if rest:
        sys.stderr.write(rest + "\n")
    if not os.environ.get("RUNWAY_DEBUG"):
        sys.stderr.write("  (run with --debug for the full traceback)\n")


def _entry(name: str):
    def _main() -> None:
        sys.exit(main(only=name))

    _main.__name__ = f"{name}_main"
    return _main


def _runway_main() -> None:
    sys.exit(main())


experiment_main = _entry("experiment")
train_main = _entry("train")
infer_main = _entry("infer")
eval_main = _entry("eval")
run_main = _entry("run")

if __name__ == "__main__":
    _runway_main()
