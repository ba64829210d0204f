"""What a compiled library takes and gives, read from the library alone, in Triton's terms.

A Relax library keeps `main`'s parameter annotations as the messages of its own signature checks
(constants such as `ErrorContext(fn=main, loc=param[0], param=image, annotation=R.Tensor((batch,
3, 32, 32), dtype="float32"))`, listed by `VMExecutable.stats()`), and its return annotation when
the return has symbolic dims. Those are the source of truth: the `.so.json` beside a CLI-compiled
library is optional, and a library exported from Python has none. Outputs with static shapes carry
no annotation, so one run at the smallest sizes tells them.

A symbolic batch is the same variable leading every input and every output; its engine profile
(the partition config's `dim_ranges`, CLI `--dim batch=MIN:OPT:MAX`) bounds Triton's batches.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Optional

from ..errors import ConfigError, TensorRTError

TRITON_TYPES = {"float32": "FP32", "float16": "FP16", "bfloat16": "BF16", "float64": "FP64", "bool": "BOOL",
                "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64",
                "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64"}
DEFAULT_MAX_BATCH = 8  # a symbolic batch without a configured profile: what Triton may batch up to

_CONTEXT = re.compile(r'ErrorContext\(fn=main, loc=(param\[(\d+)\]|return), (?:param=([^,]+), )?annotation=(.*?)\) "')


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # numpy's name
    dims: tuple  # int, a variable name (str), or None for an expression of variables

    @property
    def triton_type(self) -> str:
        return TRITON_TYPES[self.dtype]

    def triton_dims(self, batched: bool) -> list:
        """Triton's dims: -1 where the size varies; without the batch dim when Triton batches."""
        return [d if isinstance(d, int) else -1 for d in (self.dims[1:] if batched else self.dims)]


@dataclasses.dataclass(frozen=True)
class Signature:
    inputs: tuple
    outputs: tuple
    batch: Optional[str]  # the shape variable leading every input and output, if any
    profile: Optional[tuple]  # (min, opt, max) of the batch variable, if the compile configured one
    ranges: dict  # every configured dim range {name: (min, opt, max)}

    def batch_limit(self, requested: Optional[int]) -> int:
        """Triton's max_batch_size: 0 (no batching) for a fixed batch; else the profile's maximum,
        or what the caller asks within it."""
        if requested is not None and (not isinstance(requested, int) or requested < 0):
            raise ConfigError(f"max_batch_size must be a whole number >= 0, got {requested!r}")
        if self.batch is None:
            if requested:
                shapes = ", ".join(f"{t.name} {list(t.dims)}" for t in self.inputs)
                raise ConfigError(f"max_batch_size={requested}: the library takes a fixed batch ({shapes}); compile it "
                                  "with a symbolic batch (an ONNX input dim named e.g. 'batch', and --dim "
                                  "batch=1:8:32) to let Triton batch requests, or leave max_batch_size out")
            return 0
        top = self.profile[2] if self.profile else DEFAULT_MAX_BATCH
        if requested is None:
            return top
        if self.profile and requested > top:
            raise ConfigError(f"max_batch_size={requested} is above the engine profile's maximum {top} for "
                              f"{self.batch} (compiled with --dim {self.batch}={':'.join(map(str, self.profile))}); "
                              f"pass at most {top}, or compile with a larger --dim {self.batch} range")
        return requested

    def preferred_sizes(self, max_batch: int) -> list:
        """Batch sizes the engine profile is tuned for (its opt and max), within max_batch."""
        if not max_batch:
            return []
        sizes = {self.profile[1], self.profile[2]} if self.profile else {max_batch}
        return sorted(s for s in sizes if 1 <= s <= max_batch) or [max_batch]

    def sample_inputs(self, batch: int = 1) -> Optional[list]:
        """Zeros of each input's shape (the batch at `batch`, other variables at their profile's
        opt); None where a size is unknown."""
        import numpy as np

        arrays = []
        for spec in self.inputs:
            shape = []
            for i, d in enumerate(spec.dims):
                if isinstance(d, int):
                    shape.append(d)
                elif i == 0 and d == self.batch:
                    shape.append(batch)
                elif isinstance(d, str) and d in self.ranges:
                    shape.append(int(self.ranges[d][1]))
                else:
                    return None
            arrays.append(np.zeros(shape, dtype=spec.dtype))
        return arrays


def _split_top_level(text: str) -> list:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    tail = text[start:].strip()
    return parts + ([tail] if tail else [])


def _closing(text: str, open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(text)):
        depth += text[i] == "("
        depth -= text[i] == ")"
        if depth == 0:
            return i
    raise TensorRTError(f"unbalanced annotation {text!r}")


def _dim(text: str):
    """A size as printed: 4 or T.int64(4) (an int), a variable (its name), an expression (None)."""
    number = re.fullmatch(r"(?:T\.u?int\d+\()?(-?\d+)\)?", text)
    if number:
        return int(number.group(1))
    return text if text.isidentifier() else None


def _tensors(annotation: str, what: str) -> list:
    """[(dtype, dims)] of each R.Tensor in an annotation (a tuple's in order)."""
    found, at = [], annotation.find("R.Tensor(")
    if at < 0:
        raise TensorRTError(f"{what} is {annotation}, not a tensor: Triton serves tensors only")
    while at >= 0:
        body_start = at + len("R.Tensor(")
        end = _closing(annotation, body_start - 1)
        body = annotation[body_start:end]
        dims: Optional[tuple] = None
        if body.startswith("("):
            shape_end = _closing(body, 0)
            dims = tuple(_dim(d) for d in _split_top_level(body[1:shape_end]))
        dtype = re.search(r'dtype="(\w+)"', body)
        ndim = re.search(r"ndim=(\d+)", body)
        if dims is None:
            if ndim is None:
                raise TensorRTError(f"{what} has no known rank ({annotation}); Triton needs one")
            dims = (None,) * int(ndim.group(1))
        found.append((dtype.group(1) if dtype else "float32", dims))
        at = annotation.find("R.Tensor(", end)
    return found


def _checked_dtype(dtype: str, what: str) -> str:
    if dtype not in TRITON_TYPES:
        raise TensorRTError(f"{what} has dtype {dtype}, which Triton cannot carry; it takes {', '.join(TRITON_TYPES)}")
    return dtype


def read_signature(path: str, model=None) -> Signature:
    """The Signature of the library at `path` (`model`: the LoadedModel, if one is open)."""
    import tvm

    from tvm_tensorrt.runtime.model import load

    if not os.path.isfile(path):
        raise TensorRTError(f"compiled library {path!r} does not exist; create it with `tvm-tensorrt compile`")
    model = model or load(path)
    stats = tvm.relax.VMExecutable(model.library).stats()
    params: dict = {}
    returned = None
    for found in _CONTEXT.finditer(stats):
        if found.group(1) == "return":
            returned = found.group(4)
        else:
            params[int(found.group(2))] = (found.group(3).strip(), found.group(4))
    names = model.input_names or [params[i][0] for i in sorted(params)]
    if sorted(params) != list(range(len(names))):
        raise TensorRTError(f"{os.path.basename(path)}: the signature of main could not be read "
                            f"(found parameters {sorted(params)} of {len(names)})")
    inputs = []
    for i, name in enumerate(names):
        [(dtype, dims)] = _tensors(params[i][1], f"input {name}")
        inputs.append(TensorSpec(name, _checked_dtype(dtype, f"input {name}"), dims))
    ranges = {k: tuple(v) for k, v in _configured_ranges(path).items()}
    batch = _batch_variable(inputs)
    if returned is not None:
        outs = _tensors(returned, "the output")
    else:  # static outputs: no annotation kept; their shapes from one run
        probe = Signature(tuple(inputs), (), batch, ranges.get(batch) if batch else None, ranges)
        arrays = probe.sample_inputs()
        if arrays is None:
            raise TensorRTError(f"{os.path.basename(path)}: the outputs' shapes could not be found (an input size "
                                "has no configured range); compile with --dim NAME=MIN:OPT:MAX for each")
        outs = [(str(a.dtype), tuple(a.shape)) for a in model.run(*arrays)]
    outputs = tuple(TensorSpec(f"output_{i}", _checked_dtype(dtype, f"output {i}"), dims)
                    for i, (dtype, dims) in enumerate(outs))
    if batch is not None and not all(o.dims and o.dims[0] == batch for o in outputs):
        batch = None  # an output without the batch leading: requests cannot be batched along axis 0
    return Signature(tuple(inputs), outputs, batch, ranges.get(batch) if batch else None, ranges)


def _batch_variable(inputs: list) -> Optional[str]:
    firsts = {spec.dims[0] if spec.dims else None for spec in inputs}
    if len(firsts) == 1:
        [first] = firsts
        if isinstance(first, str):
            return first
    return None


def _configured_ranges(path: str) -> dict:
    """dim_ranges of the partition config the library was compiled with (the same in every subgraph)."""
    from tvm_tensorrt.runtime.inspect import library_subgraphs

    try:
        subgraphs = library_subgraphs(path)
    except TensorRTError:  # nothing offloaded: no engine profile to respect
        return {}
    for subgraph, _ in subgraphs:
        ranges = subgraph.config.get("dim_ranges") or {}
        if ranges:
            return ranges
    return {}
