import sys

import pytest

from runway_for_ml.errors import RunwayError
from runway_for_ml.project import find_project_root, import_user_modules, resolve_config_arg


def make_project(root):
    (root / "configs" / "experiments").mkdir(parents=True)
    (root / ".runway").touch()
    (root / "configs" / "experiments" / "digits.jsonnet").write_text("{}")
    return root


def test_find_root_and_resolve_experiment(tmp_path):
    root = make_project(tmp_path / "proj")
    (root / "data" / "deep").mkdir(parents=True)
    assert find_project_root(root / "data" / "deep") == root.resolve()
    assert find_project_root(tmp_path) is None
    assert resolve_config_arg("digits", root) == root / "configs" / "experiments" / "digits.jsonnet"
    with pytest.raises(RunwayError, match="unknown experiment 'digts'.*did you mean 'digits'"):
        resolve_config_arg("digts", root)


def test_user_import_errors_name_file_and_line(tmp_path, monkeypatch):
    root = make_project(tmp_path / "p1")
    pkg = root / "data_processing"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "good_mod_a1.py").write_text("VALUE = 1\n")
    (pkg / "broken_mod_a1.py").write_text("x = 1\nraise ValueError('boom in user code')\n")
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(RunwayError) as info:
        import_user_modules(root)
    assert "broken_mod_a1.py:2" in str(info.value) and "boom in user code" in str(info.value)
    for name in [m for m in sys.modules if m.startswith("data_processing")]:
        del sys.modules[name]


def test_missing_user_module(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(RunwayError, match="cannot import user module 'nope_pkg_q'"):
        import_user_modules(tmp_path, ["nope_pkg_q"], packages=())


def test_missing_user_module_outside_a_project_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunwayError, match=r"no runway project found above .* \(no \.runway marker\)"):
        import_user_modules(None, ["nope_pkg_q"])
