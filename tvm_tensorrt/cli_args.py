"""The CLI's option values: parsed (a malformed value is argparse's usage error, exit code 2) and
checked against the model before minutes of work, in the words of the command line.

Checked here rather than left to TVM: its ONNX importer ignores a --shape name the model does not
have (the model then compiles with its dynamic dims, silently), and a wrong rank fails deep in an
operator's converter; a --dim no input uses is ignored too. So every name must exist, and the
error lists what the model has.
"""

from __future__ import annotations

import argparse
import json
import os
import re

from .common import parse_version
from .errors import ConfigError, TensorRTError


class UsageError(ConfigError):
    """A command line that cannot mean what it says (exit code 2, like argparse's own)."""


# -- option parsers ------------------------------------------------------------------------------

def shape_item(text):
    """--shape NAME=D0,D1,... (repeatable)."""
    name, equals, dims = text.partition("=")
    try:
        values = [int(d) for d in dims.split(",")]
    except ValueError:
        values = []
    if not name.strip() or not equals or not values or any(d < 0 for d in values):
        raise argparse.ArgumentTypeError(f"takes NAME=D0,D1,... with whole sizes, e.g. input=1,3,224,224; got {text!r}")
    return name.strip(), values


def dim_item(text):
    """--dim NAME=MIN:OPT:MAX (repeatable): a shape variable's optimization-profile range."""
    name, equals, spec = text.partition("=")
    try:
        lo, opt, hi = (int(v) for v in spec.split(":"))
    except ValueError:
        lo = opt = hi = 0
    if not name.strip() or not equals or not 1 <= lo <= opt <= hi:
        raise argparse.ArgumentTypeError(f"takes NAME=MIN:OPT:MAX with 1 <= MIN <= OPT <= MAX, e.g. seq=16:128:512; "
                                         f"got {text!r}")
    return name.strip(), (lo, opt, hi)


def target_arg(text):
    """--target: a kind, the classic string form, or TVM's JSON dict ({"kind": "cuda", ...})."""
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"{text!r} is not valid JSON: {err}") from None
    return text


def version_arg(text):
    try:
        return parse_version(text, "--tensorrt-version")
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def size_arg(text):
    """A size in bytes, or with a binary unit as trtexec and Polygraphy take them: 1G, 512M,
    64K, 1.5GiB (1G = 2**30 bytes)."""
    found = _SIZE.match(text)
    size = int(float(found.group(1)) * _UNITS[found.group(2).upper()]) if found else 0
    if size <= 0:
        raise argparse.ArgumentTypeError(f"takes a size such as 1G, 512M or 1073741824 (bytes); got {text!r}")
    return size


# -- files -----------------------------------------------------------------------------------------

def default_output(model_path: str, suffix: str = ".so") -> str:
    """The library's default name: the model's, in the current folder (model.onnx -> model.so)."""
    return os.path.splitext(os.path.basename(model_path))[0] + suffix


def writable_output(path: str) -> None:
    """Say which path cannot be written before minutes of compiling, not after in a linker error."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise TensorRTError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise TensorRTError(f"cannot write {path}: folder {folder} is not writable")
    if os.path.isdir(path):
        raise TensorRTError(f"cannot write {path}: it is a folder; give a file name such as {path}/model.so")


def never_the_model(flag: str, path: str, model_path: str, also=()) -> None:
    """An output (and the files written beside it: `also` suffixes) never replaces the model."""
    for written in [path, *(path + s for s in also)]:
        if os.path.exists(written) and os.path.exists(model_path) and os.path.samefile(written, model_path):
            suffix = {"--onnx": ".annotated.onnx", "--html": ".html", "--svg": ".svg"}.get(flag, ".so")
            raise UsageError(f"{flag} {path} would replace the model {model_path}; give another file name, "
                             f"e.g. {flag} {default_output(model_path, suffix)}")
    if flag in ("-o", "--output") and path.lower().endswith(".onnx"):
        raise UsageError(f"{flag} {path}: a library named .onnx would pass for a model; give a .so name, "
                         f"e.g. {flag} {default_output(path)}")


# -- --shape and --dim against the model's inputs ----------------------------------------------

def model_inputs(model_path: str):
    """[(name, dims or None, dtype)] of the model's inputs (initializers are not inputs); a dim
    is an int, a name (dim_param) or None (unknown). None if the file cannot be read: the
    import that follows says why."""
    import onnx

    from .onnx_mapped import read_mapped

    try:
        mapped = read_mapped(model_path, 1024)  # large weights skipped: only the graph's inputs are read
        model = mapped[0] if mapped is not None else onnx.load(model_path, load_external_data=False)
    except Exception:  # noqa: BLE001 (unreadable: the importer's error is the one to show)
        return None
    initializers = {t.name for t in model.graph.initializer}
    found = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim] \
            if tensor.HasField("shape") else None
        found.append((value.name, dims, onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
                      if tensor.elem_type else "?"))
    return found


def _show(dims) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")" if dims is not None else "(any rank)"


def _listing(inputs) -> str:
    return "; ".join(f"{name} {_show(dims)} {dtype}" for name, dims, dtype in inputs) or "none"


def check_shapes_and_dims(model_path: str, shapes: dict | None, dims: dict | None) -> list:
    """UsageError for a --shape naming no input or of the wrong rank, or a --dim naming no dynamic
    dim left; returns the fixed dims a --shape changes, [(name, model dims, given)], for an
    import that then fails to mention (the model may be made for its sizes only)."""
    if not shapes and not dims:
        return []
    inputs = model_inputs(model_path)
    if inputs is None:
        return []
    by_name = {name: d for name, d, _ in inputs}
    changed = []
    for name, given in (shapes or {}).items():
        if name not in by_name:
            raise UsageError(f"--shape {name}=...: the model has no input named {name!r}; its inputs: "
                             f"{_listing(inputs)}")
        expected = by_name[name]
        if expected is not None and len(expected) != len(given):
            raise UsageError(f"--shape {name}={','.join(map(str, given))}: input {name} has {len(expected)} dims "
                             f"{_show(expected)}; {len(given)} were given {_show(given)}")
        if expected is not None and any(isinstance(e, int) and e > 0 and e != g for e, g in zip(expected, given)):
            changed.append((name, expected, given))
    named = {}  # dim name -> inputs using it, after --shape fixed what it fixes
    for name, input_dims, _ in inputs:
        if name in (shapes or {}) or input_dims is None:
            continue
        for d in input_dims:
            if isinstance(d, str):
                named.setdefault(d, []).append(name)
    for name in dims or {}:
        if name in named:
            continue
        fixed = [i for i, d, _ in inputs if i in (shapes or {}) and d and name in d]
        if fixed:
            raise UsageError(f"--dim {name}: --shape {fixed[0]}=... fixes it; drop one of the two")
        have = ", ".join(f"{d} (of {', '.join(users)})" for d, users in named.items())
        raise UsageError(f"--dim {name}: no input of the model has a dynamic dim named {name!r}; "
                         + (f"its dynamic dims: {have}" if have else "the model's inputs have no dynamic dims")
                         + f"; its inputs: {_listing(inputs)}")
    return changed


def shapes_hint(changed) -> str:
    """What an import failure after --shape changed fixed dims should add."""
    return "; ".join(f"--shape {name}={','.join(map(str, given))} changes the model's fixed shape {_show(dims)} "
                     "(the model may work at its own sizes only)" for name, dims, given in changed)
