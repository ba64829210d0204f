"""The model.py of a Triton model repository that serves a tvm-tensorrt library.

Copied into the repository by tvm_tensorrt.triton.repository; it runs inside Triton's Python
backend stub (one process per model instance), not in the process that wrote it. The library is
loaded on the instance's device: `cuda:<id>` for KIND_GPU, the CPU for KIND_CPU.

Tensors cross the stub by DLPack both ways: the stub's NumPy conversions (`as_numpy()`,
`Tensor(name, array)`) are compiled against NumPy 1's ABI and read wrong data under NumPy 2,
while DLPack is the same under either.

Requests Triton batches together arrive as a list; those of equal shapes (past the batch dim) run
as one call, split back per request. A request the library refuses gets its own error; the others
in the batch are answered.
"""

import ctypes
import json
import os
import site
import sys

import numpy as np
import triton_python_backend_utils as pb_utils

# The stub renames a DLPack capsule it consumed to "used_dlpack"; NumPy's capsule destructor knows
# only "used_dltensor" and would print an error for every response. The name must outlive the
# capsule (PyCapsule_SetName keeps the pointer), hence a module constant.
_USED_CAPSULE = b"used_dltensor"
_set_capsule_name = ctypes.pythonapi.PyCapsule_SetName
_set_capsule_name.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _add_site_dirs(paths):
    """The server's own environment ahead of the stub's (`tvm-tensorrt serve` passes it; a
    production image installs tvm-tensorrt where the stub's Python finds it)."""
    before = list(sys.path)
    for path in paths:
        site.addsitedir(path)  # also runs the .pth files there (an editable install's finder)
    added = [p for p in sys.path if p not in before]
    sys.path[:] = added + before


def _to_triton(name, array):
    array = np.ascontiguousarray(array)
    capsule = array.__dlpack__()
    tensor = pb_utils.Tensor.from_dlpack(name, capsule)
    _set_capsule_name(capsule, _USED_CAPSULE)  # the stub now owns it; NumPy's destructor stays quiet
    return tensor


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        _add_site_dirs(json.loads(params.get("site_dirs", "[]")))
        import tvm_tensorrt

        self._input_error = tvm_tensorrt.TensorRTError
        library = params["library"]
        if not os.path.isabs(library):
            library = os.path.join(args["model_repository"], args["model_version"], library)
        gpu = args["model_instance_kind"] == "GPU"
        self.model = tvm_tensorrt.load(library, device="cuda" if gpu else "cpu",
                                       index=int(args["model_instance_device_id"]) if gpu else 0)
        self.inputs = [i["name"] for i in config["input"]]
        self.outputs = [o["name"] for o in config["output"]]
        self.batched = int(config.get("max_batch_size", 0)) > 0
        warmup = json.loads(params.get("warmup_shapes", "null"))
        if warmup:  # engines built (or loaded) now, not on the first request
            self.model.run(*(np.zeros(s, dtype=d) for s, d in warmup))

    def execute(self, requests):
        arrays = [[np.from_dlpack(pb_utils.get_input_tensor_by_name(r, n)) for n in self.inputs] for r in requests]
        groups = {}
        for i, request_arrays in enumerate(arrays):
            key = tuple((a.shape[1:] if self.batched else a.shape, a.dtype.str) for a in request_arrays)
            groups.setdefault(key if self.batched else i, []).append(i)
        responses = [None] * len(requests)
        for members in groups.values():
            self._run_group(members, arrays, responses)
        return responses

    def _run_group(self, members, arrays, responses):
        if len(members) == 1:
            inputs = arrays[members[0]]
        else:
            inputs = [np.concatenate([arrays[i][k] for i in members]) for k in range(len(self.inputs))]
        try:
            outputs = self.model.run(*inputs)
        except self._input_error as err:
            for i in members:
                responses[i] = pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(str(err)))
            return
        cuts = np.cumsum([len(arrays[i][0]) for i in members])[:-1] if len(members) > 1 else []
        pieces = [np.split(out, cuts) if len(members) > 1 else [out] for out in outputs]
        for j, i in enumerate(members):
            responses[i] = pb_utils.InferenceResponse(
                output_tensors=[_to_triton(name, piece[j]) for name, piece in zip(self.outputs, pieces)])

    def finalize(self):
        self.model.close()
