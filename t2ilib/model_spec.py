"""Models that describe themselves: the constructor call that rebuilds a model, recorded on the model.

A checkpoint's weights say nothing about the network they belong to. nanoGPT saves ``model_args`` beside the weights
and diffusers saves each model's and scheduler's config; this course does the same. A model class that inherits
:class:`Describable` records the arguments of the ``__init__`` call that built it, and

    spec = model_spec(model)   # {"class": "t2ilib.nn.unet.UNet", "args": {"in_channels": 1, ...}}
    twin = build_model(spec)   # the same architecture (fresh weights), ready for load_state_dict

Arguments that are themselves describable modules (a denoiser's network) are recorded as nested specs. The spec is
plain JSON, stored in the checkpoint's manifest (see :mod:`t2ilib.checkpoint`); ``build_model`` only imports classes
from the ``t2ilib`` package, so a manifest cannot make the loader run code from anywhere else.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any

import torch.nn as nn

PACKAGE = "t2ilib"


class Describable:
    """Mixin for ``nn.Module`` classes: records the bound ``__init__`` arguments as ``self.spec_args``.

    Put it before ``nn.Module`` in the bases. Only the class being built records (a parent ``__init__`` reached
    through ``super()`` does not overwrite its child's arguments). ``*args`` / ``**kwargs`` are recorded by name,
    so a class that forwards ``**kwargs`` to a child module still rebuilds exactly.
    """

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        init = cls.__dict__.get("__init__")
        if init is None:
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self, *args, **kwargs):
            if type(self).__init__ is recording_init:  # the class being instantiated, not a parent via super()
                bound = signature.bind(self, *args, **kwargs)
                bound.apply_defaults()
                recorded = {}
                for name, value in list(bound.arguments.items())[1:]:  # skip self
                    kind = signature.parameters[name].kind
                    if kind is inspect.Parameter.VAR_POSITIONAL:
                        if value:
                            raise TypeError(f"{cls.__name__}: describable models take no *args")
                    elif kind is inspect.Parameter.VAR_KEYWORD:
                        recorded.update(value)
                    else:
                        recorded[name] = value
                object.__setattr__(self, "spec_args", recorded)
            init(self, *args, **kwargs)

        cls.__init__ = recording_init


def _to_json(value: Any, where: str) -> Any:
    if isinstance(value, nn.Module):
        return model_spec(value)
    if isinstance(value, (tuple, list)):
        return [_to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _to_json(v, f"{where}.{k}") for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{where}: a describable model's arguments must be JSON values or describable modules, "
                    f"got {type(value).__name__}")


def model_spec(model: nn.Module) -> dict:
    """``{"class": "module.Class", "args": {...}}``: the constructor call that rebuilds ``model``'s architecture."""
    if not isinstance(model, Describable) or not hasattr(model, "spec_args"):
        raise TypeError(f"model: {type(model).__name__} does not describe itself (its class must inherit "
                        f"t2ilib.model_spec.Describable)")
    cls = type(model)
    return {"class": f"{cls.__module__}.{cls.__qualname__}",
            "args": {k: _to_json(v, f"{cls.__name__}.{k}") for k, v in model.spec_args.items()}}


def _is_spec(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"class", "args"}


def _from_json(value: Any) -> Any:
    if _is_spec(value):
        return build_model(value)
    if isinstance(value, list):
        return tuple(_from_json(v) for v in value)  # JSON has no tuples; every sequence argument here is a tuple
    if isinstance(value, dict):
        return {k: _from_json(v) for k, v in value.items()}
    return value


def model_class(path: str) -> type:
    """The class named ``path`` ("t2ilib.nn.unet.UNet"): only describable classes of this package."""
    module_name, _, name = path.rpartition(".") if isinstance(path, str) else ("", "", "")
    if not (module_name == PACKAGE or module_name.startswith(PACKAGE + ".")):
        raise ValueError(f"class: expected a class of the {PACKAGE} package ('{PACKAGE}.module.Class'), got {path!r}")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"class: {path!r} does not exist in this version of {PACKAGE} ({e})") from None
    if not (isinstance(cls, type) and issubclass(cls, Describable) and issubclass(cls, nn.Module)):
        raise ValueError(f"class: {path!r} is not a describable model class")
    return cls


def build_model(spec: dict) -> nn.Module:
    """A fresh model of the architecture ``spec`` describes (see :func:`model_spec`)."""
    if not _is_spec(spec):
        raise ValueError(f"spec: expected {{'class': ..., 'args': {{...}}}}, got {spec!r:.200}")
    cls = model_class(spec["class"])
    if not isinstance(spec["args"], dict):
        raise ValueError(f"spec args of {spec['class']}: expected a dict, got {type(spec['args']).__name__}")
    return cls(**{k: _from_json(v) for k, v in spec["args"].items()})
