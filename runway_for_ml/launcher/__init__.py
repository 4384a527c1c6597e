"""Where a command runs: here (``local``) or on SLURM through submitit.

A command that can run on SLURM adds the launcher's options and, once its inputs are checked and its
folder exists, hands the launcher a :class:`JobSpec` it built itself::

    def add_arguments(parser):
        ...
        add_launcher_arguments(parser, sweep=True)          # --slurm, --launcher, --wait, --sweep

    def run(args):
        config = load_config(...)                           # validated
        version_dir = create_version(...)                   # the folder exists at submit time
        spec = JobSpec("train", ["train", name, "--in-version", VERSION_DIR], config, version_dir=version_dir)
        code = maybe_submit(spec, args)
        if code is not None:                                # submitted (or failed to): done here
            return code
        ...                                                 # run locally

SLURM is chosen by ``--slurm``, ``--launcher slurm`` or ``meta.launcher: "slurm"``; ``--launcher local``
always runs here. On SLURM the job runs the spec's command line plus ``--launcher local`` on the node
(see :mod:`runway_for_ml.launcher.job`), writing into the folder created at submit time.

Modules: ``options`` (the launcher's flags), ``spec`` (``JobSpec``), ``dispatch`` (``maybe_submit``: here,
one job or a sweep), ``submission`` (submitting, waiting), ``sweep`` (job arrays), ``slurm`` (the ``slurm`` config section), ``job`` (what runs on the node),
``jobs`` (the jobs registry and job states). This package stays light: submitit is imported only
when something is submitted or a job's state is read.
"""

from __future__ import annotations

from runway_for_ml.launcher.options import add_launcher_arguments, chosen_launcher
from runway_for_ml.launcher.spec import VERSION_DIR, JobSpec
from runway_for_ml.lazy import lazy_exports

__all__ = [
    "VERSION_DIR",
    "JobSpec",
    "add_launcher_arguments",
    "chosen_launcher",
    "maybe_submit",
    "submit",
    "wait_for_jobs",
]

# The submission module reads manifests and the registry: loaded when a command submits.
_LAZY = {name: "runway_for_ml.launcher.submission" for name in ("submit", "wait_for_jobs")}
_LAZY["maybe_submit"] = "runway_for_ml.launcher.dispatch"
__getattr__, __dir__ = lazy_exports(__name__, _LAZY, also=__all__, cache=False)
