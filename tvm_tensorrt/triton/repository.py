"""A Triton model repository for a compiled library: `tvm-tensorrt export-triton LIB REPO`.

    REPO/NAME/config.pbtxt     inputs, outputs, dims and dtypes from the library; dynamic
                               batching within the engine profile; instance groups
    REPO/NAME/1/model.py       the Python backend model (backend_model.py)
    REPO/NAME/1/library.so     the library (copied; `serve` points at the caller's file instead)

The same writer serves `tvm-tensorrt serve`, which adds only what a local server needs (the
caller's site-packages for the stub, the library's absolute path).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from typing import Optional

from ..errors import ConfigError, TensorRTError
from .signature import Signature, read_signature

INSTANCE_KINDS = {"gpu": "KIND_GPU", "cpu": "KIND_CPU", "auto": "KIND_AUTO"}
LIBRARY_FILE = "library.so"  # not model.so: Python would import it for model.py (an extension module named model)
DEFAULT_QUEUE_DELAY_US = 1000


def model_name(library: str, name: Optional[str]) -> str:
    """Triton's model name: the caller's, else the library's file name without .so."""
    chosen = name if name is not None else re.sub(r"\.so$", "", os.path.basename(library))
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", chosen or ""):
        raise ConfigError(f"model name {chosen!r} is not a valid Triton model name (letters, digits, _ . -); "
                          "choose one with name= (--name at the shell)")
    return chosen


def _pbtxt_list(values) -> str:
    return "[ " + ", ".join(str(v) for v in values) + " ]"


def _tensor_block(specs, batched: bool) -> str:
    entries = [f'  {{\n    name: "{t.name}"\n    data_type: TYPE_{t.triton_type}\n'
               f'    dims: {_pbtxt_list(t.triton_dims(batched) or [1])}\n'
               + ("    reshape: { shape: [ ] }\n" if not t.triton_dims(batched) else "") + "  }"
               for t in specs]
    return "[\n" + ",\n".join(entries) + "\n]"


def config_text(name: str, signature: Signature, library: str, max_batch_size: int, max_queue_delay_us: int,
                instances: int, kind: str, site_dirs: Optional[list] = None) -> str:
    """config.pbtxt for the library."""
    batched = max_batch_size > 0
    params = {"library": library}
    warmup = signature.sample_inputs(batch=1)
    if warmup is not None:
        params["warmup_shapes"] = json.dumps([[list(a.shape), str(a.dtype)] for a in warmup])
    if site_dirs:
        params["site_dirs"] = json.dumps(site_dirs)
    lines = [f'name: "{name}"', 'backend: "python"', f"max_batch_size: {max_batch_size}",
             f"input {_tensor_block(signature.inputs, batched)}", f"output {_tensor_block(signature.outputs, batched)}"]
    if batched:
        lines.append("dynamic_batching {\n"
                     f"  preferred_batch_size: {_pbtxt_list(signature.preferred_sizes(max_batch_size))}\n"
                     f"  max_queue_delay_microseconds: {max_queue_delay_us}\n}}")
    lines.append(f"instance_group [ {{ count: {instances} kind: {kind} }} ]")
    for key, value in params.items():
        lines.append(f'parameters {{ key: "{key}" value: {{ string_value: {json.dumps(value)} }} }}')
    return "\n".join(lines) + "\n"


def check_options(max_queue_delay_us: int, instances: int, instance_kind: str) -> str:
    if not isinstance(max_queue_delay_us, int) or max_queue_delay_us < 0:
        raise ConfigError(f"max_queue_delay_us must be a whole number of microseconds >= 0, got {max_queue_delay_us!r}")
    if not isinstance(instances, int) or instances < 1:
        raise ConfigError(f"instances must be a whole number >= 1, got {instances!r}")
    if instance_kind not in INSTANCE_KINDS:
        raise ConfigError(f"instance_kind must be one of {', '.join(INSTANCE_KINDS)}, got {instance_kind!r}")
    return INSTANCE_KINDS[instance_kind]


def write_model(repository: str, library: str, name: Optional[str] = None, max_batch_size: Optional[int] = None,
                max_queue_delay_us: int = DEFAULT_QUEUE_DELAY_US, instances: int = 1, instance_kind: str = "gpu",
                copy_library: bool = True, site_dirs: Optional[list] = None,
                signature: Optional[Signature] = None) -> str:
    """Write REPO/NAME (config.pbtxt, 1/model.py and, with copy_library, 1/model.so); returns
    the model folder. An existing model folder of that name is refused, not overwritten."""
    kind = check_options(max_queue_delay_us, instances, instance_kind)
    name = model_name(library, name)
    signature = signature or read_signature(library)
    max_batch = signature.batch_limit(max_batch_size)
    folder = os.path.join(repository, name)
    if os.path.exists(folder):
        raise TensorRTError(f"{folder} already exists; remove it or export under another --name")
    if os.path.exists(repository) and not os.path.isdir(repository):
        raise TensorRTError(f"{repository} is a file; give a folder for the model repository")
    version = os.path.join(folder, "1")
    os.makedirs(version)
    if copy_library:
        shutil.copyfile(library, os.path.join(version, LIBRARY_FILE))
        where = LIBRARY_FILE
    else:
        where = os.path.abspath(library)
    shutil.copyfile(os.path.join(os.path.dirname(__file__), "backend_model.py"), os.path.join(version, "model.py"))
    with open(os.path.join(folder, "config.pbtxt"), "w") as f:
        f.write(config_text(name, signature, where, max_batch, max_queue_delay_us, instances, kind, site_dirs))
    return folder


def export_triton(library: str, repository: str, name: Optional[str] = None, max_batch_size: Optional[int] = None,
                  max_queue_delay_us: int = DEFAULT_QUEUE_DELAY_US, instances: int = 1,
                  instance_kind: str = "gpu", site_packages: Optional[list] = None) -> str:
    """A model repository for a production Triton server (KIND_GPU instances by default: each
    loads the library on its own GPU); returns the model folder. site_packages: folders the
    Python backend adds before importing tvm_tensorrt (a virtualenv inside the server's image)."""
    if not os.path.isfile(library):
        raise TensorRTError(f"compiled library {library!r} does not exist; create it with `tvm-tensorrt compile`")
    return write_model(repository, library, name, max_batch_size, max_queue_delay_us, instances, instance_kind,
                       site_dirs=list(site_packages or []))
