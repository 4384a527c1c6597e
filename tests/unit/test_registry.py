import pytest

from runway_for_ml.errors import ConfigError, RunwayError, did_you_mean
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


def test_base_class_is_enforced_on_register_and_on_dotted_paths():
    class Base:
        pass

    reg = Registry("executor", base=Base)
    with pytest.raises(RunwayError, match="cannot register .* as a executor: it must be a subclass of Base"):
        reg.register(type("Loose", (), {}))
    with pytest.raises(
        ConfigError, match=r"executor.ExecutorClass: executor 'collections.OrderedDict' is .*not a Base"
    ):
        reg.get("collections.OrderedDict", where="executor.ExecutorClass")


def test_unknown_name_written_once_with_the_key_and_the_registry_hint():
    reg = Registry("logger", hint="available loggers: {names}")
    reg.register(lambda: None, name="csv")
    reg.register(lambda: None, name="tensorboard")
    with pytest.raises(ConfigError) as info:
        reg.check("tensorbord", where="meta.logger_enable")
    assert str(info.value) == (
        "meta.logger_enable: unknown logger 'tensorbord' (did you mean 'tensorboard'?)\n"
        "  hint: available loggers: csv, tensorboard"
    )
    reg.check("csv")
    reg.check("pkg.mod.Thing")  # a dotted path is imported by get(), not by check()
    # Without a config key the error is a plain RunwayError (not a config problem).
    with pytest.raises(RunwayError) as info:
        reg.get("nope")
    assert not isinstance(info.value, ConfigError)
