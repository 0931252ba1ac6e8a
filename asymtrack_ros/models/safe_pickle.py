"""Loading PyTorch checkpoint files without executing anything they contain.

Official checkpoints embed a pickled object of a class from the authors' training code
(``settings``). A plain unpickle would import that code; ``torch.load(weights_only=True)``
refuses the whole file. Here every global outside a short allow-list becomes an inert
placeholder: building one from its saved state (how objects are pickled) is harmless,
while *calling* one (how a malicious pickle runs code, e.g. ``os.system``) is refused.
"""

from __future__ import annotations

import collections
import pickle
from pathlib import Path
from typing import Any

import torch

_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch", "Size"): torch.Size,
    ("torch", "float16"): torch.float16,
    ("torch", "float32"): torch.float32,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
}


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file."""


class UnsafePickleError(CheckpointError):
    """The file tried to call something while being unpickled."""


class ForeignObject:
    """Inert stand-in for an object of a class that is not allowed to load."""

    qualname = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise UnsafePickleError(f"refused to call {self.qualname} while unpickling")

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<foreign {self.qualname}>"


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED.get((module, name))
        if allowed is not None:
            return allowed
        return type(name, (ForeignObject,), {"qualname": f"{module}.{name}", "__module__": "foreign"})


class _SafePickleModule:
    """Passed to ``torch.load`` as its ``pickle_module``."""

    Unpickler = _SafeUnpickler
    __name__ = "asymtrack_safe_pickle"

    @staticmethod
    def load(file: Any, **kwargs: Any) -> Any:
        return _SafeUnpickler(file, **kwargs).load()


def read_checkpoint(path: str | Path) -> Any:
    """Unpickle a torch checkpoint with foreign classes as placeholders; never runs code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_SafePickleModule)
    except UnsafePickleError as err:
        raise UnsafePickleError(f"{path}: unsafe checkpoint, {err}") from None
    except Exception as err:  # noqa: BLE001 - corrupt bytes break torch.load in many ways (TypeError, ...)
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt?): {err!r}") from None


def foreign_state(obj: Any) -> dict[str, Any]:
    """The saved attributes of a placeholder (e.g. the official ``settings``), as a dict."""
    state = getattr(obj, "state", None)
    return state if isinstance(state, dict) else {}
