import pytest

from runway_for_ml.errors import RunwayError, did_you_mean
from runway_for_ml.registry import Registry


def test_register_get_and_dotted_path():
    reg = Registry("thing")

    @reg.register
    class Tokenize:
        pass

    @reg.register(name="alias")
    def fn():
        return 1

    assert reg.get("Tokenize") is Tokenize and reg.get("alias") is fn
    assert "Tokenize" in reg and reg.names() == ["Tokenize", "alias"]
    assert reg.get("collections.OrderedDict").__name__ == "OrderedDict"


def test_duplicate_name_names_both_modules():
    reg = Registry("transform")

    class A:
        pass

    A.__module__ = "pkg_one.mod"
    reg.register(A, name="Same")

    class B:
        pass

    B.__module__ = "pkg_two.mod"
    with pytest.raises(RunwayError, match=r"registered twice: in pkg_one\.mod\..*A and in pkg_two\.mod\..*B"):
        reg.register(B, name="Same")


def test_unknown_name_did_you_mean_and_hint():
    reg = Registry("transform")
    reg.register(type("SplitHFDataset", (), {}))
    with pytest.raises(RunwayError) as info:
        reg.get("SplitHFDatset")
    assert "did you mean 'SplitHFDataset'" in str(info.value)
    assert "meta.user_modules" in str(info.value)


def test_bad_dotted_paths():
    reg = Registry("executor")
    with pytest.raises(RunwayError, match="module 'no_such_pkg_xyz' not found"):
        reg.get("no_such_pkg_xyz.mod.Cls")
    with pytest.raises(RunwayError, match="has no 'OrderedDcit'.*did you mean 'OrderedDict'"):
        reg.get("collections.OrderedDcit")


def test_did_you_mean_is_empty_when_nothing_is_close():
    assert did_you_mean("zzz", ["process:Split"]) == ""
