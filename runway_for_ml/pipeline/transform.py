"""Data transforms: the units a pipeline node runs.

A transform is a small functor: :meth:`BaseTransform.setup` configures it from the node's
``setup_kwargs``, :meth:`BaseTransform._call` does the work. Calling the instance runs the hooks in
order ``_preprocess -> _check_input -> _call -> _check_output``; an exception in any of them fails the
node, and the runner names the node, the transform and the hook.

>>> @register_transform_functor
... class AddOne(BaseTransform):
...     def setup(self, amount=1):
...         self.amount = amount
...     def _call(self, data):
...         return [x + self.amount for x in data]
>>> t = AddOne()
>>> t.configure(amount=2)
>>> t([1, 2])
[3, 4]

``datasets`` is imported lazily (only when an HF object is actually handled) so that importing the
package stays fast.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from runway_for_ml.errors import RunwayError, did_you_mean
from runway_for_ml.pipeline.datatypes import is_dataset, is_dataset_dict
from runway_for_ml.registry import Registry

__all__ = ["TRANSFORMS", "AttrDict", "BaseTransform", "HFDatasetTransform", "register_transform_functor"]

TRANSFORMS: Registry[type[BaseTransform]] = Registry("transform")

T = TypeVar("T", bound=type)


class AttrDict(dict):
    """A copy of a config dict whose keys are also attributes, like the original framework's EasyDict.

    >>> AttrDict({"train": {"batch_size": 8}}).train.batch_size
    8
    """

    def __init__(self, data: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__()
        for key, value in dict(data or {}, **kwargs).items():
            self[key] = _attr_value(value)

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = _attr_value(value)


def _attr_value(value: Any) -> Any:
    if isinstance(value, Mapping) and not isinstance(value, AttrDict):
        return AttrDict(value)
    if isinstance(value, list):
        return [_attr_value(v) for v in value]
    return value


class BaseTransform:
    """Base class of every transform; works on any picklable Python object.

    Subclasses override ``setup`` (keyword arguments = the node's ``setup_kwargs``) and ``_call``.
    ``VERSION`` may be set by hand: when set, the cache key uses it instead of a hash of the project
    code the class reaches (see ``fingerprint.code_fingerprint``); bump it when the output changes.
    """

    VERSION: ClassVar[str | None] = None
    # setup_kwargs handled by the base class itself, not passed to the subclass's setup() — unless
    # the subclass's setup() declares one: then it owns that option (see _owned_options).
    _GENERIC_OPTIONS: ClassVar[tuple[str, ...]] = ()
    # Generic options that a setup(**kwargs) owns too (receives, applies itself), as in the original framework.
    _KWARGS_OWNED: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str | None = None, use_dummy_data: bool = False, global_config: Any = None) -> None:
        # Which hook is running; the runner reads it to say where a node failed.
        self.stage = "setup"
        # Attributes of the original framework's transforms; the runner sets them for each node
        # (name: the node id, use_dummy_data: dummy-data mode, global_config: the resolved config dict).
        self.name = name or type(self).__name__
        self.use_dummy_data = bool(use_dummy_data)
        self.global_config = AttrDict(global_config or {})

    # ----------------------------------------------------------------- configuration
    def setup(self) -> None:
        """Configure the transform; override with the keyword arguments your transform takes."""

    def configure(self, **setup_kwargs: Any) -> None:
        """Apply the generic options of this class, then call :meth:`setup` with the rest."""
        self.stage = "setup"
        handled = self._handled_options()
        generic = {k: setup_kwargs.pop(k) for k in list(setup_kwargs) if k in handled}
        self._set_generic_options(**generic)
        for key in self._comment_keys(setup_kwargs):
            setup_kwargs.pop(key)
        self.setup(**setup_kwargs)

    @classmethod
    def _comment_keys(cls, setup_kwargs: Mapping[str, Any]) -> set[str]:
        """``_``-prefixed keys that ``setup`` does not take: comments in the config, not checked, not passed.

        A ``setup`` that names such a key (``_num_proc``) or takes ``**kwargs`` receives it.
        """
        underscored = [k for k in setup_kwargs if str(k).startswith("_")]
        if not underscored:
            return set()
        try:
            params = inspect.signature(cls.setup).parameters
        except (TypeError, ValueError):
            return set()
        if any(p.kind == p.VAR_KEYWORD for p in params.values()):
            return set()
        return {k for k in underscored if k not in params}

    @classmethod
    def _owned_options(cls) -> frozenset[str]:
        """Generic options that the subclass's own ``setup`` declares: it gets them and applies them itself."""
        setup = cls.setup
        if any(setup is getattr(base, "setup", None) for base in _FRAMEWORK_SETUP_OWNERS):
            return frozenset()
        try:
            params = inspect.signature(setup).parameters
        except (TypeError, ValueError):
            return frozenset()
        takes_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
        return frozenset(
            name for name in cls._GENERIC_OPTIONS if name in params or (takes_any and name in cls._KWARGS_OWNED)
        )

    @classmethod
    def _handled_options(cls) -> tuple[str, ...]:
        """Generic options the framework takes out of setup_kwargs and applies around ``_call``."""
        owned = cls._owned_options()
        return tuple(name for name in cls._GENERIC_OPTIONS if name not in owned)

    def _set_generic_options(self, **options: Any) -> None:
        """Store the class's generic options (see ``_GENERIC_OPTIONS``)."""

    @classmethod
    def check_setup_kwargs(cls, setup_kwargs: Mapping[str, Any]) -> str | None:
        """Return why ``setup_kwargs`` cannot be passed to ``setup`` (None when they bind).

        Used to validate a config before anything runs (``setup(**kwargs)`` is only called later).
        """
        handled = cls._handled_options()
        comments = cls._comment_keys(setup_kwargs)
        rest = {k: v for k, v in setup_kwargs.items() if k not in handled and k not in comments}
        try:
            signature = inspect.signature(cls.setup)
        except (TypeError, ValueError):  # builtins without a signature: nothing to check
            return None
        params = list(signature.parameters.values())[1:]  # drop self
        accepted = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        accepted += [name for name in handled if name not in accepted]
        takes_any = any(p.kind == p.VAR_KEYWORD for p in params)
        unknown = [k for k in rest if k not in accepted] if not takes_any else []
        listing = f"{cls.__name__}.setup accepts: {', '.join(accepted) or '(no arguments)'}"
        if unknown:
            return f"unknown argument '{unknown[0]}'{did_you_mean(unknown[0], accepted)}; {listing}"
        try:
            signature.bind(None, **rest)
        except TypeError as exc:
            return f"{exc}; {listing}"
        return None

    # ----------------------------------------------------------------- running
    def __call__(self, data: Any) -> Any:
        """Run ``_preprocess -> _check_input -> _call -> _check_output`` and return the output."""
        self.stage = "_preprocess"
        data = self._preprocess(data)
        self.stage = "_check_input"
        self._check_input(data)
        self.stage = "_call"
        out = self._run(data)
        self.stage = "_check_output"
        self._check_output(out)
        self.stage = "done"
        return out

    def _run(self, data: Any) -> Any:
        # Subclasses wrap _call with generic behaviour (e.g. per-split application).
        return self._call(data)

    def _call(self, data: Any) -> Any:
        """Transform ``data`` and return the result. Must be overridden."""
        raise NotImplementedError(f"{type(self).__name__} must implement _call(self, data)")

    def _preprocess(self, data: Any) -> Any:
        """Optional: normalise the input before it is checked and transformed."""
        return data

    def _check_input(self, data: Any) -> None:
        """Optional: raise (e.g. ``ValueError``) when the input is not what ``_call`` expects."""

    def _check_output(self, data: Any) -> None:
        """Optional: raise when the output is wrong; the node then fails instead of being cached."""

    def _apply_mapping(self, data: Any, in_out_col_mapping: Mapping[str, str]) -> Any:
        """Select fields of ``data`` and rename them: ``{"in_name": "out_name"}``.

        Works on a mapping (returns a new dict) or a list of mappings (one per item).

        >>> BaseTransform()._apply_mapping({"a": 1, "b": 2}, {"a": "x"})
        {'x': 1}
        """
        if isinstance(data, Mapping):
            return {out: data[src] for src, out in in_out_col_mapping.items()}
        if isinstance(data, list):
            return [self._apply_mapping(item, in_out_col_mapping) for item in data]
        raise TypeError(f"_apply_mapping expects a dict or a list of dicts, got {type(data).__name__}")


# Duck-typed (see pipeline/datatypes.py) so that datasets is not imported just to check a type; the
# private names are kept for the modules that import them from here.


class HFDatasetTransform(BaseTransform):
    """A transform of a ``datasets.Dataset`` or ``DatasetDict``.

    Two generic setup options are handled around ``_call`` for every subclass:

    - ``splits_to_process``: list of split names. For a ``DatasetDict`` input, ``_call`` then receives
      each listed split (a ``Dataset``) in turn and the other splits pass through unchanged. Without
      it, ``_call`` receives the whole input.
    - ``rename_col_dict``: ``{"old": "new"}`` renaming applied to ``_call``'s output (every split).

    A subclass whose ``setup`` declares one of these names owns it, as in the original framework: it
    receives the value and applies it itself (``super().setup(rename_col_dict, splits_to_process)``
    stores them as ``self.rename_col_dict`` / ``self.splits_to_process``). A ``setup(..., **kwargs)``
    also owns ``splits_to_process``: ``_call`` gets the whole ``DatasetDict``, with
    ``self.splits_to_process`` set, and processes the listed splits itself.

    >>> class Upper(HFDatasetTransform):
    ...     def _call(self, ds):
    ...         return ds.map(lambda r: {"text": r["text"].upper()})
    """

    _GENERIC_OPTIONS: ClassVar[tuple[str, ...]] = ("splits_to_process", "rename_col_dict")
    # The original framework's setup(self, rename_col_dict=None, **kwargs) received splits_to_process in
    # **kwargs and its _call looped over self.splits_to_process on the whole DatasetDict: keep that.
    _KWARGS_OWNED: ClassVar[tuple[str, ...]] = ("splits_to_process",)

    def __init__(self) -> None:
        super().__init__()
        self.splits_to_process: list[str] | None = None
        self.rename_col_dict: dict[str, str] = {}

    def configure(self, **setup_kwargs: Any) -> None:
        """As :meth:`BaseTransform.configure`; an owned ``splits_to_process`` is also stored before ``setup``.

        So ``self.splits_to_process`` is set for a ``setup(self, ..., **kwargs)`` that does not pass it on
        to ``super().setup``, as the original framework's transforms expect.
        """
        given = setup_kwargs.get("splits_to_process")
        if given is not None and "splits_to_process" in self._owned_options():
            self.splits_to_process = [given] if isinstance(given, str) else list(given)
        super().configure(**setup_kwargs)

    def setup(
        self, rename_col_dict: Mapping[str, str] | None = None, splits_to_process: list[str] | str | None = None
    ) -> None:
        """Store the generic options given (callable as ``super().setup(...)`` from an original-style subclass).

        An option left at None keeps its value, so a bare ``super().setup()`` never undoes the options
        the framework already applied.
        """
        if splits_to_process is not None:
            self._set_generic_options(splits_to_process=splits_to_process, rename_col_dict=self.rename_col_dict)
        if rename_col_dict is not None:
            self.rename_col_dict = dict(rename_col_dict)

    def _set_generic_options(
        self, splits_to_process: list[str] | str | None = None, rename_col_dict: Mapping[str, str] | None = None
    ) -> None:
        if isinstance(splits_to_process, str):
            splits_to_process = [splits_to_process]
        if splits_to_process is not None or "splits_to_process" not in self._owned_options():
            # (an owned value was stored by configure before setup: keep it)
            self.splits_to_process = list(splits_to_process) if splits_to_process is not None else None
        self.rename_col_dict = dict(rename_col_dict or {})

    def _run(self, data: Any) -> Any:
        owned = self._owned_options()
        if "splits_to_process" in owned:
            return self._rename(self._call(data))
        if self.splits_to_process is not None and is_dataset_dict(data):
            missing = [s for s in self.splits_to_process if s not in data]
            if missing:
                raise KeyError(f"splits_to_process names {missing} but the input has splits {list(data)}")
            out = type(data)(data)  # shallow copy: untouched splits pass through
            for split in self.splits_to_process:
                out[split] = self._rename(self._call(data[split]))
            return out
        return self._rename(self._call(data))

    def _rename(self, data: Any) -> Any:
        if not self.rename_col_dict or data is None or "rename_col_dict" in self._owned_options():
            return data
        if is_dataset_dict(data):
            return type(data)({split: self._rename(ds) for split, ds in data.items()})
        missing = [c for c in self.rename_col_dict if c not in data.column_names]
        if missing:
            raise KeyError(f"rename_col_dict names columns {missing} that are not in {data.column_names}")
        return data.rename_columns(self.rename_col_dict)

    def _apply_mapping(self, data: Any, in_out_col_mapping: Mapping[str, str]) -> Any:
        """Keep only the columns in ``in_out_col_mapping`` and rename them (every split)."""
        if is_dataset_dict(data):
            return type(data)({k: self._apply_mapping(v, in_out_col_mapping) for k, v in data.items()})
        if is_dataset(data):
            return data.select_columns(list(in_out_col_mapping)).rename_columns(dict(in_out_col_mapping))
        return super()._apply_mapping(data, in_out_col_mapping)


# Classes whose own setup() only stores the generic options (so they are never "owned").
_FRAMEWORK_SETUP_OWNERS: tuple[type, ...] = (BaseTransform, HFDatasetTransform)


def register_transform_functor(cls: T | None = None, *, name: str | None = None) -> Any:
    """Register a :class:`BaseTransform` subclass so configs can name it in ``transform_name``.

    Usable bare (``@register_transform_functor``) or with an explicit name
    (``@register_transform_functor(name="Tokenize")``). A duplicate name is refused, naming both modules.
    """

    def _do(target: T) -> T:
        if not (isinstance(target, type) and issubclass(target, BaseTransform)):
            raise RunwayError(
                f"cannot register {target!r} as a transform: it must be a subclass of BaseTransform",
                hint="from runway_for_ml import BaseTransform (or HFDatasetTransform) and subclass it",
            )
        return TRANSFORMS.register(target, name=name)

    return _do(cls) if cls is not None else _do
