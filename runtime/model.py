"""tvm_tensorrt.load(): a compiled library as a model you call with numpy arrays.

Relax's VirtualMachine is not safe to share between threads, so each thread gets its own VM
over the one loaded library; the engines themselves are shared per process (executor.py).
"""

from __future__ import annotations

import os
import threading

import numpy as np
import tvm

from ..errors import ConfigError, TensorRTError

DEVICES = ("cpu", "cuda")


class LoadedModel:
    def __init__(self, path: str, device: str = "cpu", index: int = 0):
        if device not in DEVICES:
            raise ConfigError(f"device must be one of {DEVICES}, got {device!r}")
        if not isinstance(index, int) or index < 0:
            raise ConfigError(f"index must be a device number >= 0, got {index!r}")
        if not os.path.isfile(path):
            raise TensorRTError(f"compiled library {path!r} does not exist")
        self.path = path
        self.device = tvm.device(device, index)
        self.library = tvm.runtime.load_module(path)
        self._local = threading.local()

    def _vm(self):
        vm = getattr(self._local, "vm", None)
        if vm is None:
            vm = self._local.vm = tvm.relax.VirtualMachine(self.library, self.device)
        return vm

    def run(self, *inputs) -> list:
        """Outputs of `main` as numpy arrays (always a list, one entry per output)."""
        args = [tvm.runtime.tensor(np.asarray(x, order="C"), device=self.device) for x in inputs]
        result = self._vm()["main"](*args)
        return [r.numpy() for r in flatten_outputs(result)]


def flatten_outputs(value) -> list:
    """The tensors of a VM result, nested tuples flattened in order."""
    if hasattr(value, "numpy"):
        return [value]
    return [v for item in value for v in flatten_outputs(item)]


def load(path: str, device: str = "cpu", index: int = 0) -> LoadedModel:
    return LoadedModel(path, device, index)
