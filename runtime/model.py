"""tvm_tensorrt.load(): a compiled library as a model you call with numpy arrays.

Relax's VirtualMachine is not safe to share between threads, so each thread gets its own VM
over the one loaded library; the engines themselves are shared per process (executor.py).
Engine options (precision, cache_dir, ...: runtime/options.py) are read here, once: the
arguments, the TVM_TENSORRT_* variables for the rest; each VM's subgraphs are bound to them.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Optional

import numpy as np
import tvm

from tvm_tensorrt.errors import ConfigError, DeviceUnavailableError, InputError, TensorRTError
from tvm_tensorrt.library_file import check_library
from tvm_tensorrt.weights_file import attach_library, release as release_weights
from .options import Request

DEVICES = ("cpu", "cuda")


class LoadedModel:
    def __init__(self, path: str, device: str = "cpu", index: int = 0, **engine_options):
        """engine_options: precision, cache_dir, max_workspace_size, builder_optimization_level,
        max_aux_streams, multi_engine (None: the library's choice, else the variable's)."""
        self.engine_request = Request.capture(**engine_options)  # a bad option fails before loading
        if device not in DEVICES:
            raise ConfigError(f"device must be one of {DEVICES}, got {device!r}")
        if not isinstance(index, int) or index < 0:
            raise ConfigError(f"index must be a device number >= 0, got {index!r}")
        if not os.path.isfile(path):
            raise TensorRTError(f"compiled library {path!r} does not exist")
        check_library(path)  # a damaged file is a CorruptLibraryError here, not a signal in TVM's loader
        self.path = path
        self.device = tvm.device(device, index)
        if not self.device.exist:  # else TVM's "Device API cuda is not enabled" when the first VM is made
            raise DeviceUnavailableError(f"{device}:{index} is not available on this machine (no such CUDA device, "
                                         "or no CUDA driver); load it with device=\"cpu\", which runs every "
                                         "subgraph through TVM (if the library was compiled with its CPU fallback)")
        try:
            self.library = tvm.runtime.load_module(path)
            self.library["vm_load_executable"]  # what every Relax library has; other .so files do not
        except Exception as err:  # noqa: BLE001 (TVM's loader raises several types)
            if "load_from_bytes.cuda" in str(err):  # TVM's loader meets the library's CUDA kernels
                raise DeviceUnavailableError(
                    f"{path} was compiled for CUDA (its TVM part has GPU kernels), and this machine's TVM has no "
                    "CUDA runtime to load them; use it on a machine with an NVIDIA GPU and a CUDA-enabled TVM, or "
                    "compile for this one with target=\"llvm\"") from None
            raise TensorRTError(f"{path} is not a library compiled by tvm-tensorrt or TVM "
                                f"({str(err).strip().splitlines()[-1][:200]}); compile one with `tvm-tensorrt compile`") \
                from None
        self.weights = attach_library(path, self.library, self.device)  # the .weights file, if any: mapped, checked
        self._local = threading.local()
        self._codegen_library = False  # set when the first VM is made
        self._vms: list = []  # every thread's VM, for close()
        self._vms_lock = threading.Lock()
        self.input_names = _param_names(self._vm())  # main's signature, read once: run() checks counts with it

    def _vm(self):
        if "library" not in self.__dict__:
            raise TensorRTError(f"{os.path.basename(self.path)} was closed; load it again with tvm_tensorrt.load")
        vm = getattr(self._local, "vm", None)
        if vm is None:
            vm = self._local.vm = tvm.relax.VirtualMachine(self.library, self.device)
            with self._vms_lock:
                self._vms.append(vm)
            self._codegen_library = not _bind_options(vm, self.engine_request)
        return vm

    def close(self) -> None:
        """Let go of the library; its engines and weights go with it (unless another library still
        uses the same subgraph). Also happens when the model is garbage-collected."""
        self._close(wait=True)

    def _close(self, wait: bool) -> None:
        from tvm_tensorrt.formats.abi import SUBGRAPHS_LISTING
        from .executor import release_blobs

        if wait:
            with self._vms_lock:
                vms, self._vms = self._vms, []
        else:  # nothing else can reach a model being collected: no lock needed (nor taken)
            vms, self._vms = self.__dict__.get("_vms", []), []
        self.__dict__.pop("_local", None)
        if self.__dict__.pop("library", None) is None:
            return
        for vm in vms:  # each VM has its own device copies of the constants (the blobs included)
            try:
                listing = [v for v in vm[SUBGRAPHS_LISTING]()]
            except (AttributeError, RuntimeError, KeyError):  # not a tvm_tensorrt.build library
                continue
            release_blobs(_blobs_of(listing), wait=wait)
        release_weights(self.__dict__.pop("weights", None), wait=wait)  # external weights: their mapping

    def __del__(self):
        """The garbage collector can run this inside any region of any thread, one holding our
        locks included: it never waits for a lock (what it cannot release now, the lock's holder
        releases as it leaves)."""
        try:
            self._close(wait=False)
        except Exception:  # noqa: BLE001 (interpreter shutdown: modules may be gone)
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def run(self, *inputs) -> list:
        """Outputs of `main` as numpy arrays (always a list, one entry per output). NaN and inf
        pass through as the arithmetic makes them; wrong inputs are an InputError."""
        vm, names = self._vm(), self.input_names
        if names is not None and len(inputs) != len(names):
            raise InputError(f"{os.path.basename(self.path)} takes {len(names)} input(s) ({', '.join(names)}); "
                             f"{len(inputs)} were given")
        arrays = [np.asarray(x, order="C") for x in inputs]
        args = [tvm.runtime.tensor(a, device=self.device) for a in arrays]
        try:
            if self._codegen_library:  # its subgraphs learn this model's options per call
                from .executor import caller_request

                with caller_request(self.engine_request):
                    result = vm["main"](*args)
            else:
                result = vm["main"](*args)
        except Exception as err:  # noqa: BLE001 (TVM's signature checks raise several types)
            raise _input_error(err, arrays, self.path) or err
        return [r.numpy() for r in flatten_outputs(result)]


def _bind_options(vm, request: Request) -> bool:
    """This VM's subgraphs (each VM has its own blob constants) build engines with `request`;
    False for a library without a subgraph listing (RunCodegen's: run() says who calls)."""
    from tvm_tensorrt.formats.abi import SUBGRAPHS_LISTING
    from .executor import request_options

    try:
        listing = [v for v in vm[SUBGRAPHS_LISTING]()]
    except (AttributeError, RuntimeError, KeyError):  # not a tvm_tensorrt.build library
        return False
    request_options(_blobs_of(listing), request)
    return True


def _blobs_of(listing: list) -> list:
    """The blob constants in a library's subgraph listing: (count, blob, plans, *weights) each."""
    blobs, i = [], 0
    while i < len(listing):
        count = int(listing[i].numpy())
        blobs.append(listing[i + 1])
        i += 3 + count
    return blobs


_PARAM_CHECK = re.compile(r"loc=param\[(\d+)\], param=([^,]+), annotation=(R\.Tensor\(.*?\))\)")


def _param_names(vm) -> Optional[list]:
    try:
        return [vm._get_function_param_name("main", i) for i in range(vm._get_function_arity("main"))]
    except (AttributeError, RuntimeError):  # a TVM without these introspection calls: TVM checks the count
        return None


def _input_error(err: Exception, arrays: list, path: str) -> Optional[InputError]:
    """TVM's check of main's signature, as an InputError naming the input; None for other errors."""
    found = _PARAM_CHECK.search(str(err))
    if found is None:
        return None
    index, name, annotation = int(found.group(1)), found.group(2).strip(), found.group(3)
    given = arrays[index] if index < len(arrays) else None
    given_text = f"{given.dtype} {tuple(given.shape)}" if given is not None else "nothing"
    return InputError(f"input {name} (#{index}) of {os.path.basename(path)} takes {annotation}; "
                      f"it was given {given_text}")


def flatten_outputs(value) -> list:
    """The tensors of a VM result, nested tuples flattened in order."""
    if hasattr(value, "numpy"):
        return [value]
    return [v for item in value for v in flatten_outputs(item)]


def load(path: str, device: str = "cpu", index: int = 0, precision: Optional[str] = None,
         cache_dir: Optional[str] = None, max_workspace_size: Optional[int] = None,
         builder_optimization_level: Optional[int] = None, max_aux_streams: Optional[int] = None,
         multi_engine: Optional[bool] = None) -> LoadedModel:
    """A compiled library, ready to run. Engine options (None: the one the library was built
    with, else its TVM_TENSORRT_* variable; docs/runtime.md has the table) are part of each
    engine's key: the same library loaded with fp32 and with fp16 runs two engines."""
    return LoadedModel(path, device, index, precision=precision, cache_dir=cache_dir,
                       max_workspace_size=max_workspace_size, builder_optimization_level=builder_optimization_level,
                       max_aux_streams=max_aux_streams, multi_engine=multi_engine)
