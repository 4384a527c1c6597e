"""Node keys: stable across processes, sensitive to exactly the things that change a node's output."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from runway_for_ml.pipeline.fingerprint import (
    canonical_json,
    explain_change,
    node_key,
    node_key_components,
    transform_version,
)
from runway_for_ml.pipeline.transform import BaseTransform

_SPLIT_V1 = """
from runway_for_ml.pipeline.transform import BaseTransform

class Helper(BaseTransform):
    def shared(self, x):
        return x

class Split(Helper):
    def _call(self, data):
        return data[: len(data) // 2]
"""


def _keys_in_subprocess(module_dir: Path, requests: list[dict], hash_seed: str = "random") -> list[str]:
    """Import ``usermod`` from ``module_dir`` in a fresh interpreter and return node keys for ``requests``."""
    script = textwrap.dedent(
        """
        import json, sys
        import usermod
        from runway_for_ml.pipeline.fingerprint import node_key, node_key_components
        out = []
        for r in json.loads(sys.argv[1]):
            cls = getattr(usermod, r["cls"])
            out.append(node_key(node_key_components(cls, r["cls"], r["kwargs"], r["inputs"])))
        print(json.dumps(out))
        """
    )
    env = {**os.environ, "PYTHONPATH": f"{module_dir}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env["PYTHONHASHSEED"] = hash_seed
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(requests)], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout)


def _write_module(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "usermod.py").write_text(textwrap.dedent(source))
    return folder


class Tokenize(BaseTransform):
    def setup(self, max_len=8):
        self.max_len = max_len

    def _call(self, data):
        return data


class Versioned(BaseTransform):
    VERSION = 2

    def _call(self, data):
        return data


def _key(cls=Tokenize, kwargs=None, inputs=()):
    return node_key(node_key_components(cls, cls.__name__, dict(kwargs or {}), list(inputs)))


def test_key_is_a_sha256_hex_and_deterministic():
    key = _key(kwargs={"max_len": 4}, inputs=["a"])
    assert len(key) == 64 and int(key, 16) >= 0
    assert key == _key(kwargs={"max_len": 4}, inputs=["a"])


def test_keys_are_the_same_in_other_processes_with_other_hash_seeds(tmp_path):
    folder = _write_module(tmp_path / "v1", _SPLIT_V1)
    requests = [
        {
            "cls": "Split",
            "kwargs": {"test_size": 0.2, "cols": ["b", "a"], "nested": {"z": 1, "a": {"k": [1, 2]}}},
            "inputs": ["k1", "k2"],
        },
        {"cls": "Split", "kwargs": {}, "inputs": []},
    ]
    first = _keys_in_subprocess(folder, requests, hash_seed="1")
    second = _keys_in_subprocess(folder, requests, hash_seed="2")
    assert first == second
    assert first[0] != first[1]


def test_kwarg_change_changes_key_and_revert_restores_it():
    base = _key(kwargs={"max_len": 8})
    changed = _key(kwargs={"max_len": 16})
    assert changed != base
    assert _key(kwargs={"max_len": 8}) == base


def test_kwarg_order_does_not_matter_but_types_do():
    assert _key(kwargs={"a": 1, "b": 2}) == _key(kwargs={"b": 2, "a": 1})
    assert _key(kwargs={"a": 1}) != _key(kwargs={"a": "1"})
    assert _key(kwargs={"a": 1}) != _key(kwargs={"a": 1.5})


def test_underscore_kwargs_are_ignored_at_top_level_only():
    assert _key(kwargs={"max_len": 8, "_comment": "x", "_debug": True}) == _key(kwargs={"max_len": 8})
    assert _key(kwargs={"opts": {"_inner": 1}}) != _key(kwargs={"opts": {}})
    components = node_key_components(Tokenize, "Tokenize", {"max_len": 8, "_note": 1}, [])
    assert components["setup_kwargs"] == {"max_len": 8}


def test_input_order_matters():
    assert _key(inputs=["a", "b"]) != _key(inputs=["b", "a"])
    assert _key(inputs=["a"]) != _key(inputs=["b"])
    assert _key(inputs=[]) != _key(inputs=["a"])


def test_components_name_the_class_not_the_config_spelling():
    by_name = node_key_components(Tokenize, "Tokenize", {}, [])
    by_path = node_key_components(Tokenize, f"{__name__}.Tokenize", {}, [])
    assert by_name == by_path
    assert by_name["transform"] == f"{__name__}.Tokenize"


def test_version_attribute_overrides_code_hash():
    assert transform_version(Versioned) == "2"

    class Versioned2(BaseTransform):  # different code, same VERSION -> same version string
        VERSION = 2

        def _call(self, data):
            return [data]

    assert transform_version(Versioned2) == "2"
    assert len(transform_version(Tokenize)) == 64


def test_framework_base_class_source_is_not_part_of_the_version():
    class A(BaseTransform):
        def _call(self, data):
            return data

    class B(A):
        pass

    assert transform_version(A) != transform_version(B)
    from runway_for_ml.pipeline import fingerprint

    assert BaseTransform not in fingerprint.versioned_classes(B)
    assert A in fingerprint.versioned_classes(B)


def test_editing_the_class_source_changes_the_key(tmp_path):
    req = [{"cls": "Split", "kwargs": {"k": 1}, "inputs": ["x"]}]
    original = _keys_in_subprocess(_write_module(tmp_path / "v1", _SPLIT_V1), req)
    edited = _keys_in_subprocess(_write_module(tmp_path / "v2", _SPLIT_V1.replace("// 2", "// 3")), req)
    same_again = _keys_in_subprocess(_write_module(tmp_path / "v3", _SPLIT_V1), req)
    assert edited != original
    assert same_again == original


def test_editing_a_user_base_class_changes_the_key(tmp_path):
    req = [{"cls": "Split", "kwargs": {}, "inputs": []}]
    original = _keys_in_subprocess(_write_module(tmp_path / "v1", _SPLIT_V1), req)
    edited = _keys_in_subprocess(_write_module(tmp_path / "v2", _SPLIT_V1.replace("return x", "return x * 2")), req)
    assert edited != original


def test_version_attribute_survives_code_edits(tmp_path):
    source = _SPLIT_V1.replace("class Split(Helper):", "class Split(Helper):\n    VERSION = '1.0'")
    req = [{"cls": "Split", "kwargs": {}, "inputs": []}]
    original = _keys_in_subprocess(_write_module(tmp_path / "v1", source), req)
    edited = _keys_in_subprocess(_write_module(tmp_path / "v2", source.replace("// 2", "// 3")), req)
    bumped = _keys_in_subprocess(_write_module(tmp_path / "v3", source.replace("'1.0'", "'1.1'")), req)
    assert edited == original
    assert bumped != original


def test_class_without_source_falls_back_with_a_warning(caplog):
    namespace: dict = {"BaseTransform": BaseTransform}
    exec("class Dynamic(BaseTransform):\n    pass\n", namespace)  # a class without a source file
    with caplog.at_level(logging.WARNING, logger="runway_for_ml.pipeline.fingerprint"):
        version = transform_version(namespace["Dynamic"])
    assert len(version) == 64
    assert "cannot read the source" in caplog.text and "VERSION" in caplog.text


def test_canonical_json_handles_non_json_values():
    assert canonical_json({"p": Path("/a/b"), "t": (1, 2), "s": {3, 1}}) == '{"p":"/a/b","s":[1,3],"t":[1,2]}'
    assert canonical_json({"é": "ü"}) == '{"\\u00e9":"\\u00fc"}'


def test_explain_change_names_kwargs_inputs_code_and_transform():
    old_components = node_key_components(Tokenize, "Tokenize", {"test_size": 0.2, "seed": 1}, ["k1", "k2"])
    meta = {"node": "process:Split", "components": old_components}

    new = dict(old_components, setup_kwargs={"test_size": 0.3, "seed": 1, "extra": True})
    assert explain_change(meta, new, ["input:A", "input:B"]) == [
        "setup_kwargs.extra: (absent) -> true",
        "setup_kwargs.test_size: 0.2 -> 0.3",
    ]
    assert explain_change(meta, dict(old_components, input_keys=["k1", "k9"]), ["input:A", "input:B"]) == [
        "input 'input:B' changed"
    ]
    assert explain_change(meta, dict(old_components, input_keys=["k2", "k1"]), ["input:B", "input:A"]) == [
        "inputs reordered"
    ]
    assert explain_change(meta, dict(old_components, version="f" * 64), ["input:A", "input:B"]) == [
        "code of Tokenize changed"
    ]
    assert explain_change(meta, dict(old_components, transform="pkg.Other"), ["input:A", "input:B"]) == [
        f"transform changed {__name__}.Tokenize -> pkg.Other"
    ]
    assert explain_change(meta, old_components, ["input:A", "input:B"]) == []


def test_explain_change_reports_version_bumps_and_nested_kwargs():
    old = node_key_components(Versioned, "Versioned", {"opts": {"lr": 0.1}}, [])
    new = dict(old, version="3", setup_kwargs={"opts": {"lr": 0.2}})
    assert explain_change({"components": old}, new, []) == [
        "version of Versioned changed '2' -> '3'",
        "setup_kwargs.opts.lr: 0.1 -> 0.2",
    ]


def test_fingerprinting_a_1000_node_chain_takes_under_a_second():
    started = time.perf_counter()
    key = ""
    for i in range(1000):
        key = _key(kwargs={"i": i, "cols": ["a", "b"]}, inputs=[key] if key else [])
    assert time.perf_counter() - started < 1.0


def test_explain_change_reports_extra_components_added_by_the_runner():
    old = dict(node_key_components(Tokenize, "Tokenize", {}, []), extra={"data.csv": [10, 1]})
    new = dict(old, extra={"data.csv": [12, 2]}, dummy_rows=50)
    assert explain_change({"components": old}, new, []) == [
        "extra 'data.csv' changed",
        "dummy_rows: (absent) -> 50",
    ]
