"""The cache key sees the project code a transform calls (real project files, real cache on disk).

Each step writes a copy of a small project into a new folder and plans/runs its pipeline against one
shared cache folder; importing the copy replaces the previous one (as a new process would), so an
edit between two steps is seen exactly as a user's edit between two `runway` commands.
"""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import pytest

from runway_for_ml.pipeline import code_libraries, fingerprint
from runway_for_ml.pipeline.runner import DataPipeline

TEXT_UTILS = '''
"""Text helpers shared by several transforms."""

import numpy as np

STOPWORDS = {"the", "a"}


def normalise(text):
    # lower-case, then drop stop words
    words = [w for w in text.lower().split() if w not in STOPWORDS]
    return " ".join(words)


def score(values):
    return float(np.clip(values, 0, 1).mean())


def unused_helper(x):
    return x * 2
'''

TRANSFORMS = '''
from runway_for_ml import BaseTransform, register_transform_functor

from data_processing.text_utils import normalise
from data_processing import text_utils

SUFFIX = "!"


def clean(text):
    """Strip and shout."""
    return text.strip() + SUFFIX


def unrelated(text):
    return text[::-1]


def _log(label):
    import os

    with open(os.environ["FP_TEST_LOG"], "a") as fh:
        fh.write(label + "\\n")


@register_transform_functor
class FPLoad(BaseTransform):
    def _call(self, data):
        _log("Load")
        return ["  The Cat ", "a Dog  "]


@register_transform_functor
class FPClean(BaseTransform):
    def _call(self, rows):
        _log("Clean")
        return list(map(lambda r: clean(r), rows))


@register_transform_functor
class FPNormalise(BaseTransform):
    def _call(self, rows):
        _log("Normalise")
        return [normalise(r) for r in rows]


@register_transform_functor
class FPScore(BaseTransform):
    def _call(self, rows):
        _log("Score")
        return [text_utils.score([len(r) / 10]) for r in rows]


@register_transform_functor
class FPLazy(BaseTransform):
    def _call(self, rows):
        from data_processing.lazy_helpers import twice

        _log("Lazy")
        text = "local variable named like a module global"  # not a dependency on anything
        return [twice(r) for r in rows] + [text[:0]]


@register_transform_functor
class FPOut(BaseTransform):
    def _call(self, rows):
        _log("Out")
        return rows
'''

LAZY_HELPERS = """
def twice(text):
    return text * 2
"""

CONFIG = {
    "input:Load": {"transform_name": "FPLoad"},
    "process:Clean": {"transform_name": "FPClean", "input_node": "input:Load"},
    "output:Cleaned": {"transform_name": "FPOut", "input_node": "process:Clean"},
    "output:Normalised": {"transform_name": "FPNormalise", "input_node": "input:Load"},
    "output:Scored": {"transform_name": "FPScore", "input_node": "input:Load"},
    "output:Lazy": {"transform_name": "FPLazy", "input_node": "input:Load"},
}


class Project:
    """A project whose files can be edited; each `plan`/`run` sees the files as they are now."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp_path = tmp_path
        self.cache = tmp_path / "cache"
        self.log = tmp_path / "runs.log"
        monkeypatch.setenv("FP_TEST_LOG", str(self.log))
        self.files = {
            "data_processing/__init__.py": "",
            "data_processing/text_utils.py": TEXT_UTILS,
            "data_processing/data_transforms.py": TRANSFORMS,
            "data_processing/lazy_helpers.py": LAZY_HELPERS,
        }
        self._copies = itertools.count()

    def edit(self, path: str, old: str, new: str) -> None:
        assert old in self.files[path], f"{old!r} not in {path}"
        self.files[path] = self.files[path].replace(old, new)

    def _pipeline(self) -> DataPipeline:
        root = self.tmp_path / f"copy{next(self._copies)}"
        (root / "configs").mkdir(parents=True)
        (root / ".runway").touch()
        for rel, text in self.files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(textwrap.dedent(text))
        config = {
            "meta": {"default_cache_dir": str(self.cache)},
            "data_pipeline": {"name": "fp", "transforms": CONFIG},
        }
        import json

        path = root / "configs" / "fp.json"
        path.write_text(json.dumps(config))
        return DataPipeline.from_config(path)

    def plan(self) -> dict:
        return {p.node: (p.status, p.reasons) for p in self._pipeline().plan()}

    def run(self) -> list[str]:
        self._pipeline().run()
        ran = self.log.read_text().split() if self.log.exists() else []
        self.log.unlink(missing_ok=True)
        return sorted(ran)


@pytest.fixture
def project(tmp_path, monkeypatch):
    p = Project(tmp_path, monkeypatch)
    assert p.run() == ["Clean", "Lazy", "Load", "Normalise", "Out", "Score"]
    assert {status for status, _ in p.plan().values()} == {"cached"}
    return p


def _stale(plan: dict) -> dict:
    return {node: reasons for node, (status, reasons) in plan.items() if status != "cached"}


def test_editing_a_helper_in_the_same_module_reruns_the_node_and_its_descendants_only(project):
    project.edit("data_processing/data_transforms.py", "text.strip() + SUFFIX", "text.strip().upper() + SUFFIX")
    assert _stale(project.plan()) == {
        "process:Clean": ["code changed: data_processing.data_transforms.clean"],
        "output:Cleaned": ["input 'process:Clean' changed"],
    }
    assert project.run() == ["Clean", "Out"]  # siblings (Normalise, Score, Lazy) hit


def test_a_module_constant_used_by_a_helper_is_followed(project):
    project.edit("data_processing/data_transforms.py", 'SUFFIX = "!"', 'SUFFIX = "?"')
    assert _stale(project.plan())["process:Clean"] == ["code changed: data_processing.data_transforms.SUFFIX"]


def test_editing_a_helper_in_another_project_module_reruns_the_node(project):
    project.edit("data_processing/text_utils.py", "text.lower().split()", "text.split()")
    assert _stale(project.plan()) == {"output:Normalised": ["code changed: data_processing.text_utils.normalise"]}
    assert project.run() == ["Normalise"]
    # Transitively: a constant the helper reads, in that other module.
    project.edit("data_processing/text_utils.py", '{"the", "a"}', '{"the", "a", "an"}')
    assert _stale(project.plan()) == {"output:Normalised": ["code changed: data_processing.text_utils.STOPWORDS"]}


def test_a_helper_reached_through_a_module_attribute_or_a_lazy_import_is_followed(project):
    project.edit("data_processing/text_utils.py", "np.clip(values, 0, 1)", "np.clip(values, 0, 2)")
    project.edit("data_processing/lazy_helpers.py", "text * 2", "text * 3")
    assert _stale(project.plan()) == {
        "output:Scored": ["code changed: data_processing.text_utils.score"],
        "output:Lazy": ["code changed: data_processing.lazy_helpers.twice"],
    }
    assert project.run() == ["Lazy", "Score"]


def test_unrelated_functions_comments_formatting_and_docstrings_do_not_change_keys(project):
    transforms = "data_processing/data_transforms.py"
    project.edit(transforms, "return text[::-1]", "return text[::-2]")  # a function nobody calls
    project.edit("data_processing/text_utils.py", "return x * 2", "return x * 3")
    project.edit("data_processing/text_utils.py", "# lower-case, then drop stop words", "# reworded comment")
    project.edit(transforms, '"""Strip and shout."""', '"""Strip the text, then shout it."""')
    project.edit(
        transforms, "return text.strip() + SUFFIX", "return (\n        text.strip()  # tidy\n        + SUFFIX\n    )"
    )
    project.edit(transforms, "class FPOut(BaseTransform):", "\n\nclass FPOut(BaseTransform):  # the last node")
    assert _stale(project.plan()) == {}
    assert project.run() == []


def test_a_library_version_change_reruns_the_nodes_that_use_it(project, monkeypatch):
    real = code_libraries.distribution_version
    monkeypatch.setattr(code_libraries, "distribution_version", lambda d: "0.0.simulated" if d == "numpy" else real(d))
    installed = real("numpy")
    stale = _stale(project.plan())
    # Only the node whose code reaches numpy (text_utils.score) is affected; normalise's module imports
    # numpy too, but normalise does not use it.
    assert stale == {"output:Scored": [f"library changed: numpy {installed} -> 0.0.simulated"]}
    assert project.run() == ["Score"]


def test_version_attribute_overrides_the_code_fingerprint(project):
    transforms = "data_processing/data_transforms.py"
    project.edit(transforms, "class FPClean(BaseTransform):\n", "class FPClean(BaseTransform):\n    VERSION = 1\n")
    reasons = project.plan()["process:Clean"][1]
    assert len(reasons) == 1 and reasons[0].startswith("version of FPClean changed code ")
    assert project.run() == ["Clean", "Out"]
    project.edit(transforms, "text.strip() + SUFFIX", "text.strip().upper() + SUFFIX")
    assert _stale(project.plan()) == {}  # VERSION set: code edits are the user's to declare
    project.edit(transforms, "VERSION = 1", "VERSION = 2")
    assert project.plan()["process:Clean"] == ("stale", ["version of FPClean changed '1' -> '2'"])


def test_a_project_base_class_in_another_module_is_part_of_the_key(project):
    project.files["data_processing/bases.py"] = (
        "from runway_for_ml import BaseTransform\n\n\nclass Shouting(BaseTransform):\n"
        "    def shout(self, text):\n        return text.upper()\n"
    )
    transforms = "data_processing/data_transforms.py"
    project.edit(
        transforms,
        "from data_processing import text_utils\n",
        "from data_processing import text_utils\nfrom data_processing.bases import Shouting\n",
    )
    project.edit(transforms, "class FPOut(BaseTransform):", "class FPOut(Shouting):")
    project.run()
    project.edit("data_processing/bases.py", "text.upper()", "text.title()")
    assert _stale(project.plan()) == {
        "output:Cleaned": ["code changed: data_processing.bases.Shouting"],
    }


def test_code_component_lists_project_objects_and_library_versions(project):
    entry = next(
        e
        for e in DataPipeline.from_config(next(project.tmp_path.glob("copy*/configs/fp.json"))).store.entries()
        if e.node == "output:Scored"
    )
    code = entry.meta["components"]["code"]
    assert sorted(code["objects"]) == [
        "data_processing.data_transforms.FPScore",
        "data_processing.data_transforms._log",
        "data_processing.text_utils.score",
    ]
    assert set(code["libraries"]) == {"numpy", "python"}  # `import os` in _log is the standard library
    assert "runway_for_ml" not in code["libraries"]  # BaseTransform and the register decorator do not count


# ---------------------------------------------------------------------- which names are followed


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))


def _objects(tmp_path, monkeypatch, files: dict[str, str], module: str, cls: str) -> list[str]:
    import importlib

    _write(tmp_path, files)
    monkeypatch.syspath_prepend(str(tmp_path))
    klass = getattr(importlib.import_module(module), cls)
    return sorted(fingerprint.code_fingerprint(klass)["objects"])


def test_local_names_are_not_dependencies_but_globals_they_shadow_elsewhere_are(tmp_path, monkeypatch):
    source = """
    from runway_for_ml import BaseTransform

    def clean(x):
        return x

    counter = 0
    LIMIT = 3

    class Shadow(BaseTransform):
        def _call(self, data, clean=None):
            global counter
            counter += 1
            items = [LIMIT for clean in data]
            return items, clean
    """
    objects = _objects(tmp_path, monkeypatch, {"fp_shadow.py": source}, "fp_shadow", "Shadow")
    assert objects == ["fp_shadow.LIMIT", "fp_shadow.Shadow", "fp_shadow.counter"]


def test_star_imports_reexports_dotted_modules_and_recursion(tmp_path, monkeypatch):
    files = {
        "fp_pkg/__init__.py": "from .impl import exported\n",
        "fp_pkg/impl.py": """
            def exported(x):
                return ping(x)

            def ping(x):
                return pong(x - 1) if x else 0

            def pong(x):
                return ping(x)
            """,
        "fp_pkg/sub.py": "def dotted(x):\n    return x\n\n\ndef other(x):\n    return x\n",
        "fp_star.py": "def starred(x):\n    return x\n",
        "fp_user.py": """
            import fp_pkg.sub
            from fp_pkg import exported
            from fp_star import *
            from runway_for_ml import BaseTransform

            class User(BaseTransform):
                def _call(self, data):
                    return exported(data), fp_pkg.sub.dotted(data), starred(data)
            """,
    }
    assert _objects(tmp_path, monkeypatch, files, "fp_user", "User") == [
        "fp_pkg.impl.exported",
        "fp_pkg.impl.ping",
        "fp_pkg.impl.pong",
        "fp_pkg.sub.dotted",
        "fp_star.starred",
        "fp_user.User",
    ]


def test_a_class_made_in_a_function_follows_the_helpers_of_its_module(tmp_path, monkeypatch):
    source = """
    from runway_for_ml import BaseTransform

    def helper(x):
        return x

    def decorate(fn):
        return fn

    def make():
        class Inner(BaseTransform):
            @decorate
            def _call(self, data):
                return helper(data)
        return Inner
    """
    _write(tmp_path, {"fp_factory.py": source})
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    inner = importlib.import_module("fp_factory").make()
    objects = sorted(fingerprint.code_fingerprint(inner)["objects"])
    assert objects == ["fp_factory.decorate", "fp_factory.helper", "fp_factory.make.<locals>.Inner"]


def test_framework_helpers_enter_by_version_and_builtin_transforms_by_source():
    from runway_for_ml.pipeline.builtin_transforms import SplitHFDataset
    from runway_for_ml.version import __version__

    code = fingerprint.code_fingerprint(SplitHFDataset)
    assert list(code["objects"]) == ["runway_for_ml.pipeline.builtin_transforms.SplitHFDataset"]
    assert code["libraries"]["runway_for_ml"] == __version__


def test_a_library_whose_module_name_differs_from_its_distribution_enters_by_the_distribution(tmp_path, monkeypatch):
    import importlib.metadata

    source = """
    from runway_for_ml import BaseTransform

    class Digits(BaseTransform):
        def _call(self, data):
            from sklearn.datasets import load_digits
            import PIL.Image

            return load_digits(), PIL.Image
    """
    _write(tmp_path, {"fp_libs.py": source})
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    fingerprint.clear_cache()
    code = fingerprint.code_fingerprint(importlib.import_module("fp_libs").Digits)
    assert {name.lower(): version for name, version in code["libraries"].items()} == {
        "scikit-learn": importlib.metadata.version("scikit-learn"),
        "pillow": importlib.metadata.version("pillow"),
    }
    assert fingerprint.distributions_by_package.cache_info().currsize == 0  # found without the slow full scan
