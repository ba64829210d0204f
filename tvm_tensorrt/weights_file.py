"""Weights beside the library: `model.so.weights`, so no library meets TVM's 4 GiB wall and no
weight passes through LLVM or a copy at load.

Why: TVM 0.27's object writer truncates a library whose embedded data passes 4 GiB (a 1.1B
LLM in fp32), and embedding costs the compile about 4x the weights in memory. ONNX keeps large
weights in a file beside the model for the same reasons; so do we. A library built with external
weights (lowering/external.py) holds its code, the subgraphs' graphs and a small identity; each
weight is fetched by `main` through the packed function `tvm_tensorrt.weight(identity, index,
[hint])` from this file, memory-mapped once per process and shared (zero-copy on the CPU) by TVM's
compiled copy of each subgraph and the TensorRT engines, which read their weights from the same
arguments. The hint is one of the calling function's tensors: the weight comes back on its device.

The file:

    "TVMTRTWT" | header length (u64 LE) | JSON header | pad to 64 | arrays, each 64-byte aligned

The header holds `format_version`, `identity` (XXH3-128 over every array's shape, dtype and
digest: what the library asks for), `weights` (name, shape, dtype, offset from the data start,
size, `xxh3_128` of its bytes) and `subgraphs` (per subgraph: symbol and the indices of its blob,
plans and weights, so `inspect` reads them without TVM's loader). A library and its weights file
are one unit: a missing file, one of another build, or one cut short is a WeightsFileError
naming the file and the fix; each array's digest is checked the first time it is used, so a
damaged byte is an error, never a wrong answer.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import threading

import numpy as np
import xxhash

from .collector_safe_lock import CollectorSafeLock
from .errors import WeightsFileError

MAGIC = b"TVMTRTWT"
FORMAT_VERSION = 1
ALIGN = 64
SUFFIX = ".weights"
WEIGHT_FUNCTION = "tvm_tensorrt.weight"  # (identity: str, index: int, [hint tensor]) -> the weight
# A library's own function returning {"identity", "bytes"} as uint8 JSON: how `load` finds the pair.
WEIGHTS_IDENTITY = "tvm_tensorrt_weights"
_PREFIX = struct.Struct("<8sQ")
_MAX_HEADER = 1 << 30


def weights_path(library_path) -> str:
    return os.fspath(library_path) + SUFFIX


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _bytes_of(array: np.ndarray) -> memoryview:
    return memoryview(np.ascontiguousarray(array).reshape(-1).view(np.uint8))


def digest(array: np.ndarray) -> str:
    return xxhash.xxh3_128(_bytes_of(array)).hexdigest()


def identity_of(entries: list) -> str:
    """The library's identity: the content of every array, in order (names are positional)."""
    h = xxhash.xxh3_128()
    for e in entries:
        h.update(json.dumps([e["shape"], e["dtype"], e["xxh3_128"]]).encode())
    return h.hexdigest()


def describe(arrays: list) -> tuple[list, int]:
    """([entry per (name, numpy array)], data bytes): offsets, sizes and digests (one pass over
    each array's memory)."""
    entries, at = [], 0
    for name, array in arrays:
        size = int(array.nbytes)
        entries.append({"name": name, "shape": [int(d) for d in array.shape], "dtype": str(array.dtype),
                        "offset": at, "size": size, "xxh3_128": digest(array)})
        at = _align(at + size)
    return entries, at


def write_weights(path: str, arrays: list, entries: list, subgraphs: list) -> dict:
    """Write `arrays` ([(name, numpy array)], described by `entries`) to `path`; the header."""
    header = {"format_version": FORMAT_VERSION, "identity": identity_of(entries), "weights": entries,
              "subgraphs": subgraphs}
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(_PREFIX.pack(MAGIC, len(text)))
        f.write(text)
        data_start = _align(_PREFIX.size + len(text))
        f.write(b"\0" * (data_start - f.tell()))
        for (_, array), entry in zip(arrays, entries):
            f.seek(data_start + entry["offset"])
            _write_sparse(f, _bytes_of(array))
        f.truncate(f.tell())  # a trailing hole still counts in the file's size
    return header


_CHUNK = 64 << 20


def _write_sparse(f, data: memoryview) -> None:
    """Write `data`, leaving holes where whole chunks are zero (a lazily allocated tensor, padding):
    a sparse file reads back the same and costs no disk."""
    for start in range(0, len(data), _CHUNK):
        chunk = data[start:start + _CHUNK]
        raw = np.frombuffer(chunk, np.uint8)
        if raw[:64].any() or raw.any():
            f.write(chunk)
        else:
            f.seek(len(chunk), os.SEEK_CUR)


def read_header(path: str, library: str | None = None) -> tuple[dict, int]:
    """(header, data start) of a weights file, checked to hold every array it lists (a few small
    reads). WeightsFileError saying what is wrong."""
    owner = f" of {library}" if library else ""
    if not os.path.isfile(path):
        raise WeightsFileError(f"the weights file{owner} is missing: {path} (a library built with external weights "
                               "needs its .weights file beside it: copy both, or compile again)")
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        prefix = f.read(_PREFIX.size)
        if len(prefix) < _PREFIX.size or prefix[:8] != MAGIC:
            raise WeightsFileError(f"{path} is not a tvm-tensorrt weights file (no {MAGIC.decode()} header); "
                                   "copy it again, or compile the library again")
        length = _PREFIX.unpack(prefix)[1]
        if length > min(size - _PREFIX.size, _MAX_HEADER):
            raise WeightsFileError(f"{path} is damaged: its header claims {length} bytes, past the end of the "
                                   f"{size}-byte file (a copy that stopped short leaves this); copy it again")
        try:
            header = json.loads(f.read(length))
        except ValueError:
            raise WeightsFileError(f"{path} is damaged: its header is not JSON; copy it again") from None
    if header.get("format_version") != FORMAT_VERSION:
        raise WeightsFileError(f"{path} has weights format {header.get('format_version')}; this tvm-tensorrt reads "
                               f"{FORMAT_VERSION}: compile the library again")
    data_start = _align(_PREFIX.size + length)
    end = max((data_start + w["offset"] + w["size"] for w in header["weights"]), default=data_start)
    if end > size:
        raise WeightsFileError(f"{path} is damaged: its arrays end at byte {end} but the file has {size} "
                               f"({end - size} missing; a copy that stopped short leaves this); copy it again")
    return header, data_start


def _file_digest(fd: int, offset: int, size: int) -> str:
    h, zeros = xxhash.xxh3_128(), bytes(min(size, _CHUNK))
    at, end = offset, offset + size
    while at < end:
        try:
            data = min(os.lseek(fd, at, os.SEEK_DATA), end)
        except OSError:  # no data after `at`: the rest is a hole
            data = end
        while at < data:  # a hole: zeros, never read
            n = min(data - at, len(zeros))
            h.update(memoryview(zeros)[:n])
            at += n
        hole = min(os.lseek(fd, at, os.SEEK_HOLE), end) if at < end else end
        while at < hole:  # data: hashed through a window of the mapping, no copy, unmapped after
            n = min(hole - at, _CHUNK)
            start = at - at % mmap.ALLOCATIONGRANULARITY
            window = mmap.mmap(fd, at + n - start, offset=start, access=mmap.ACCESS_READ)
            view = memoryview(window)
            part = view[at - start:]
            h.update(part)
            part.release()
            view.release()
            window.close()
            at += n
    return h.hexdigest()


class WeightsFile:
    """A weights file mapped copy-on-write (pages shared with the page cache until written,
    which nothing does: writable only so DLPack hands them to TVM without a copy)."""

    def __init__(self, path: str, library: str | None = None, identity: str | None = None):
        self.path, self.library = path, library
        self.header, self.data_start = read_header(path, library)
        if identity is not None and self.header["identity"] != identity:
            raise WeightsFileError(
                f"{path} holds the weights of another build (identity {self.header['identity'][:12]}) than "
                f"{library or 'the library'} ({identity[:12]}): a library and its .weights file move together; "
                "copy the pair from the same compile, or compile again")
        self.identity = self.header["identity"]
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self.map = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY) if size else None
        self.entries = self.header["weights"]
        self.checked: set = set()
        self.tensors: dict = {}  # (index, device type, device index) -> tvm tensor
        self.lock = threading.Lock()

    def array(self, index: int, check: bool = True) -> np.ndarray:
        """A numpy view of array `index` (no copy); its digest checked on first use."""
        e = self.entries[index]
        count = int(np.prod(e["shape"], dtype=np.int64))
        view = np.frombuffer(self.map, np.dtype(e["dtype"]), count, self.data_start + e["offset"]).reshape(e["shape"])
        if check and index not in self.checked:
            if digest(view) != e["xxh3_128"]:
                raise WeightsFileError(f"{self.path} is damaged: weight {e['name']} does not match its digest; "
                                       "copy the file again, or compile the library again")
            self.checked.add(index)
        return view

    def verify(self) -> None:
        """Every array's digest, read back from the file (what export_library does before it
        reports success). Hashed through 64 MiB windows of the file, each unmapped after, and
        holes (SEEK_HOLE) hashed as the zeros they are: checking 4 GB costs no 4 GB of memory."""
        with open(self.path, "rb") as f:
            for i, e in enumerate(self.entries):
                if _file_digest(f.fileno(), self.data_start + e["offset"], e["size"]) != e["xxh3_128"]:
                    raise WeightsFileError(f"{self.path} is damaged: weight {e['name']} does not match its digest; "
                                           "copy the file again, or compile the library again")
                self.checked.add(i)

    def tensor(self, index: int, device=None):
        import tvm

        from .shared_tensors import shared_tensor

        cpu = device is None or device.dlpack_device_type() == 1
        key = (index, None) if cpu else (index, device.dlpack_device_type(), device.index)
        found = self.tensors.get(key)
        if found is not None:
            return found
        with self.lock:
            if key not in self.tensors:
                if not 0 <= index < len(self.entries):
                    raise WeightsFileError(f"{self.path} has {len(self.entries)} weights; the library asks for "
                                           f"#{index}: the pair is mismatched, compile again")
                host = self.tensors.get((index, None)) or shared_tensor(self.array(index))
                self.tensors[(index, None)] = host
                if not cpu:
                    self.tensors[key] = host.copyto(tvm.device(device.dlpack_device_type(), device.index))
            return self.tensors[key]

    def close(self) -> None:
        with self.lock:
            self.tensors.clear()


class MemoryWeights:
    """The weights of a library just built, before it is written: a VM made from the executable
    in the compiling process reads them from memory."""

    def __init__(self, identity: str, arrays: list):
        self.identity, self.arrays, self.tensors = identity, arrays, {}

    def tensor(self, index: int, device=None):
        import tvm

        from .shared_tensors import shared_tensor

        cpu = device is None or device.dlpack_device_type() == 1
        key = index if cpu else (index, device.dlpack_device_type(), device.index)
        if key not in self.tensors:
            host = self.tensors.get(index) or shared_tensor(self.arrays[index][1])
            self.tensors[index] = host
            if not cpu:
                self.tensors[key] = host.copyto(tvm.device(device.dlpack_device_type(), device.index))
        return self.tensors[key]


_LOADED: dict = {}  # identity -> WeightsFile or MemoryWeights


def _unregister(weights) -> None:
    """A closed model's weights (the lock held): unregistered, their tensors dropped."""
    if _LOADED.get(weights.identity) is weights:
        del _LOADED[weights.identity]
    weights.close()


_LOADED_LOCK = CollectorSafeLock(_unregister)
_loaded_locked = _LOADED_LOCK.held


def register(weights) -> None:
    with _loaded_locked():
        _LOADED[weights.identity] = weights


def release(weights, wait: bool = True) -> None:
    """A closed model's weights: unregistered and their tensors dropped (the mapping goes with the
    last view). Another model of the same library that still runs maps the file again.
    `wait=False`: the garbage collector closing a model (collector_safe_lock.py)."""
    if weights is not None:
        _LOADED_LOCK.put(weights, wait)


def attach(library: str, identity: str) -> WeightsFile:
    """The weights file beside `library`, checked against the identity the library was built with,
    and registered for its calls (one mapping per identity per process)."""
    with _loaded_locked():
        found = _LOADED.get(identity)
        if isinstance(found, WeightsFile) and os.path.exists(found.path) and \
                os.path.exists(weights_path(library)) and os.path.samefile(found.path, weights_path(library)):
            return found
    weights = WeightsFile(weights_path(library), library, identity)
    register(weights)
    return weights


def library_identity(vm) -> dict | None:
    """{"identity", "bytes"} of a loaded library built with external weights, else None."""
    try:
        function = vm[WEIGHTS_IDENTITY]
    except (AttributeError, RuntimeError, KeyError):
        return None
    return json.loads(function().numpy().tobytes())


def _mapped_libraries() -> list:
    """Paths of the shared objects this process has mapped (a library TVM loaded is one)."""
    try:
        with open("/proc/self/maps") as f:
            return sorted({line.split(None, 5)[5].strip() for line in f if line.count(" ") >= 5 and
                           line.rstrip().endswith(".so")})
    except OSError:
        return []


def _find(identity: str):
    """The weights for `identity`: registered by tvm_tensorrt.load (or build), else beside a
    library this process loaded with tvm.runtime.load_module (the public contract's raw VM path)."""
    found = _LOADED.get(identity)
    if found is not None:
        return found
    for library in _mapped_libraries():
        if os.path.isfile(weights_path(library)):
            try:
                if read_header(weights_path(library))[0]["identity"] == identity:
                    return attach(library, identity)
            except WeightsFileError:
                continue
    raise WeightsFileError(f"the weights of this library (identity {identity[:12]}) are not loaded and no "
                           f"loaded library has them beside it: keep model.so{SUFFIX} beside model.so and load "
                           "it with tvm_tensorrt.load(path) or tvm.runtime.load_module(path)")


def _weight(identity, index, *hint):
    device = hint[0].device if hint and hasattr(hint[0], "device") else None
    return _find(str(identity)).tensor(int(index), device)


def attach_library(path: str, library, device=None) -> WeightsFile | None:
    """For `tvm_tensorrt.load`: the weights of the loaded library `library` (from `path`, run on
    `device`), checked and registered, or None for a library that carries its weights inside."""
    import tvm

    found = library_identity(tvm.relax.VirtualMachine(library, device or tvm.cpu()))
    return attach(path, found["identity"]) if found is not None else None


def _register_packed_function() -> None:
    import tvm

    tvm.register_global_func(WEIGHT_FUNCTION, _weight, override=True)


_register_packed_function()
