"""Extra cache-key material from a transform (``fingerprint_extra``) and how `runway dag` explains it."""

from __future__ import annotations

import hashlib
import logging

import pytest

from runway_for_ml.errors import TransformError
from runway_for_ml.pipeline import BaseTransform, register_transform_functor
from runway_for_ml.pipeline.fingerprint import explain_extra, fingerprint_extra
from runway_for_ml.pipeline.runner import DataPipeline


def _sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@register_transform_functor
class TXFolder(BaseTransform):
    """Reads a folder of files; its key covers their content, one part per file name."""

    @classmethod
    def fingerprint_extra(cls, setup_kwargs):
        from pathlib import Path

        folder = Path(setup_kwargs["folder"])
        return {p.name: _sha(p) for p in sorted(folder.iterdir())}

    def setup(self, folder, _log):
        self.folder, self.log = folder, _log

    def _call(self, data):
        from pathlib import Path

        with open(self.log, "a") as fh:
            fh.write("folder\n")
        return sorted(p.read_text() for p in Path(self.folder).iterdir())


@register_transform_functor
class TXCheckpoint(TXFolder):
    """Same, but explains its extra part in its own words."""

    @classmethod
    def explain_fingerprint_extra(cls, old_extra, new_extra):
        return [
            f"checkpoint {name} changed" for name in sorted(new_extra) if (old_extra or {}).get(name) != new_extra[name]
        ]


@register_transform_functor
class TXBrokenExplain(TXFolder):
    @classmethod
    def explain_fingerprint_extra(cls, old_extra, new_extra):
        raise RuntimeError("boom")


@register_transform_functor
class TXBrokenExtra(BaseTransform):
    @classmethod
    def fingerprint_extra(cls, setup_kwargs):
        raise FileNotFoundError(f"no such folder: {setup_kwargs.get('folder')}")

    def setup(self, folder):
        self.folder = folder

    def _call(self, data):
        return data


def _config(tmp_path, transform):
    folder = tmp_path / "files"
    folder.mkdir(exist_ok=True)
    for name, text in (("tokenizer.json", "{}"), ("vocab.txt", "a b")):
        if not (folder / name).exists():
            (folder / name).write_text(text)
    node = {"transform_name": transform, "setup_kwargs": {"folder": str(folder), "_log": str(tmp_path / "runs.log")}}
    cfg = {"meta": {"default_cache_dir": str(tmp_path / "cache")}, "data_pipeline": {"transforms": {"input:F": node}}}
    return cfg, folder


def _runs(tmp_path) -> int:
    log = tmp_path / "runs.log"
    count = len(log.read_text().split()) if log.exists() else 0
    log.unlink(missing_ok=True)
    return count


def test_dict_extra_enters_the_key_and_the_stale_reason_names_the_changed_keys(tmp_path):
    cfg, folder = _config(tmp_path, "TXFolder")
    DataPipeline(cfg).run()
    assert _runs(tmp_path) == 1
    assert [p.status for p in DataPipeline(cfg).plan()] == ["cached"]
    (folder / "tokenizer.json").write_text('{"added": 1}')
    (folder / "merges.txt").write_text("x y")
    [plan] = DataPipeline(cfg).plan()
    assert plan.status == "stale"
    assert plan.reasons == ["extra 'merges.txt' added", "extra 'tokenizer.json' changed"]
    DataPipeline(cfg).run()
    assert _runs(tmp_path) == 1
    (folder / "merges.txt").unlink()
    assert DataPipeline(cfg).plan()[0].reasons == ["extra 'merges.txt' removed"]


def test_a_transform_explains_its_extra_in_its_own_words(tmp_path):
    cfg, folder = _config(tmp_path, "TXCheckpoint")
    DataPipeline(cfg).run()
    (folder / "vocab.txt").write_text("a b c")
    [plan] = DataPipeline(cfg).plan()
    assert plan.status == "stale" and plan.reasons == ["checkpoint vocab.txt changed"]


def test_a_failing_explanation_falls_back_to_the_changed_keys(tmp_path, caplog):
    cfg, folder = _config(tmp_path, "TXBrokenExplain")
    DataPipeline(cfg).run()
    (folder / "vocab.txt").write_text("changed")
    with caplog.at_level(logging.WARNING, logger="runway_for_ml.pipeline.fingerprint"):
        [plan] = DataPipeline(cfg).plan()
    assert plan.reasons == ["extra 'vocab.txt' changed"]
    assert "explain_fingerprint_extra failed" in caplog.text and "boom" in caplog.text


def test_a_failing_fingerprint_extra_is_a_runway_error_naming_the_node(tmp_path):
    cfg = {
        "meta": {"default_cache_dir": str(tmp_path / "cache")},
        "data_pipeline": {
            "transforms": {"input:X": {"transform_name": "TXBrokenExtra", "setup_kwargs": {"folder": "nowhere"}}}
        },
    }
    with pytest.raises(TransformError, match=r"input:X.*fingerprint_extra failed: FileNotFoundError: no such folder"):
        DataPipeline(cfg).plan()
    assert not (tmp_path / "cache" / "default").exists() or not any((tmp_path / "cache" / "default").iterdir())


def test_extra_values_round_trip_so_tuples_compare_equal_to_stored_lists():
    class Tupled:
        @classmethod
        def fingerprint_extra(cls, setup_kwargs):
            return {"size": (1, 2), "n": setup_kwargs["n"]}

    assert fingerprint_extra(Tupled, {"n": 3}) == {"size": [1, 2], "n": 3}
    assert fingerprint_extra(object, {}) is None


def test_explain_extra_for_non_dict_and_absent_values():
    assert explain_extra(TXFolder, None, None) == []
    assert explain_extra(TXFolder, "a", "a") == []
    assert explain_extra(TXFolder, "a", "b") == ["extra key material of TXFolder changed"]
    assert explain_extra(TXFolder, None, {"k": 1}) == ["extra 'k' added"]
    assert explain_extra(None, {"k": 1}, None) == ["extra 'k' removed"]
    assert explain_extra(None, [1], None) == ["extra key material of the transform removed"]
