"""A compiled library is never written corrupt, and a corrupt one is refused before TVM loads it.

Why: TVM embeds everything a Relax library carries (the VM executable, its constants, our
subgraphs) as one blob, the symbol `__tvm_ffi__library_bin`: a little-endian u64 length, then
`<import tree> <kind: str> [<module: bytes>] ...` (tvm_ffi's library_module.cc). TVM 0.27's
bundled LLVM writes that blob with 32-bit limits: a 1.1B-parameter LLM's library came out exactly
2**32 bytes short of what its length says, `export_library` returned, and `load_module` then
read past the end and died with SIGSEGV (a file cut short by a copy dies the same way, or with
SIGBUS). Nothing in TVM checks what was written, so we do, in three places:

* before compiling: `check_embeddable(mod)` sums the bytes of the module's constants (no copy)
  and refuses above EMBED_LIMIT, before minutes go into engines and linking;
* on writing: `export_library(ex, path)` exports to a temporary file beside `path`, reads it
  back with `check_library`, and only then renames it onto `path` (atomic on one file system),
  so `path` is either the old file or a checked new one;
* on loading: `check_library(path)`, a few small reads whatever the file's size, so a damaged
  file is one line of `CorruptLibraryError`, never a signal.

The read-back is structural (ELF headers, segments, the blob's length chain); the content of
our subgraphs is covered by their XXH3 digests, which the runtime checks when it decodes them.
Weights past 1 GiB go to a file beside the library by default (weights_file.py), written and read
back here too, so only a build asked to embed them (external_weights=False) meets EMBED_LIMIT.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile

from tvm.relax.vm_build import VMExecutable

from .errors import CorruptLibraryError, LibraryTooLargeError, WeightsFileError
from .weights_file import WeightsFile, weights_path, write_weights

LIBRARY_BIN_SYMBOL = b"__tvm_ffi__library_bin"
# TVM 0.27's object writer loses the blob past 2**32 bytes (measured: a 1.1B-parameter LLM,
# 4.4 GB of fp32 weights, 2**32 bytes short). The margin leaves room for what the blob carries
# besides constants: the VM's code, strings, device code of a CUDA target.
EMBED_LIMIT = (1 << 32) - (256 << 20)

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SYM = struct.Struct("<IBBHQQ")
_U64 = struct.Struct("<Q")
_PT_LOAD, _SHT_SYMTAB, _SHT_NOBITS, _SHT_DYNSYM, _SHN_LORESERVE = 1, 2, 8, 11, 0xFF00


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB"


# -- before compiling --------------------------------------------------------------------------

def embedded_bytes(mod) -> int:
    """Bytes of the tensor constants in `mod`'s Relax functions, each tensor counted once (by
    its data pointer: a weight shared by the TensorRT and TVM sides is stored once). Reads
    shapes and dtypes only, so a lazily allocated tensor stays unallocated."""
    import tvm
    from tvm import relax

    seen = {}

    def visit(node):
        if isinstance(node, tvm.ir.expr.GenericConst) and isinstance(node.value, tvm.runtime.Tensor):
            t = node.value
            dtype = tvm.runtime.DataType(str(t.dtype))
            seen[(t.data_ptr(), str(t.dtype), tuple(t.shape))] = (t.numel() * dtype.bits * dtype.lanes + 7) // 8

    for _, func in mod.functions_items():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func, visit)
    return sum(seen.values())


def check_embeddable(mod, limit: int = EMBED_LIMIT) -> int:
    """The bytes `embedded_bytes` counts; LibraryTooLargeError above `limit`."""
    total = embedded_bytes(mod)
    if total > limit:
        raise LibraryTooLargeError(
            f"the model's constants take {_gib(total)} ({total} bytes); TVM 0.27 writes at most {_gib(limit)} "
            "into one library (past 4 GiB its object writer truncates the data and the library crashes on load): "
            "build with external_weights=True (tvm-tensorrt compile --external-weights) to keep the weights in a file "
            "beside the library")
    return total


# -- reading a library back ----------------------------------------------------------------------

def check_library(path: str) -> dict | None:
    """Check that the ELF library at `path` is whole: its headers, every loaded segment and the
    embedded blob lie inside the file, and the blob's length chain fits the symbol that holds it.
    A few small reads whatever the file's size. Returns {"file_bytes", "blob_offset" (of its
    length prefix), "blob_bytes" (after the prefix)}, the blob's entries None when there is no
    blob; None for a file that is not a little-endian ELF64 (a .tar, a Mach-O), which is left to
    TVM's loader. Raises CorruptLibraryError saying what is wrong."""
    with open(path, "rb") as f:
        return _Reader(path, f).check()


class _Reader:
    def __init__(self, path: str, f, writing_to: str | None = None):
        self.path, self.f, self.size = path, f, os.fstat(f.fileno()).st_size
        self.writing_to = writing_to  # the destination, when `path` is a fresh export's temporary file

    def fail(self, what: str):
        if self.writing_to is None:
            raise CorruptLibraryError(f"{self.path} is damaged: {what} (a write or copy that stopped short leaves "
                                      "this); copy it again, or compile it again with `tvm-tensorrt compile`")
        raise CorruptLibraryError(f"TVM wrote a damaged library, so {self.writing_to} was not written (a file "
                                  f"there is unchanged): {what}; TVM 0.27 writes a library short when its data "
                                  "passes 4 GiB (use fewer or smaller weights, e.g. fp16), and so does a full disk")

    def read(self, offset: int, n: int, what: str) -> bytes:
        if offset < 0 or n < 0 or offset + n > self.size:
            self.fail(f"{what} (bytes {offset}..{offset + n}) lies past the end of the {self.size}-byte file")
        self.f.seek(offset)
        return self.f.read(n)

    def check(self) -> dict | None:
        ident = self.f.read(16)
        if not ident.startswith(b"\x7fELF"):
            return None
        if ident[4] != 2 or ident[5] != 1:  # ELFCLASS64, little-endian: what we build for
            return None
        (_, _, _, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum, _) = \
            _EHDR.unpack(self.read(0, _EHDR.size, "the ELF header"))
        if (phnum and phentsize < _PHDR.size) or (shoff and shentsize < _SHDR.size):
            self.fail("the ELF header's table entry sizes are wrong")
        segments = [_PHDR.unpack(self.read(phoff + i * phentsize, _PHDR.size, "a program header"))
                    for i in range(phnum)]
        loads = [(vaddr, off, filesz) for kind, _, off, vaddr, _, filesz, _, _ in segments if kind == _PT_LOAD]
        for vaddr, off, filesz in loads:
            if off + filesz > self.size:
                self.fail(f"a loaded segment ends at byte {off + filesz}, past the end of the {self.size}-byte file")
        if shnum == 0 and shoff:  # more than 0xff00 sections: the count is in section 0
            shnum = _SHDR.unpack(self.read(shoff, _SHDR.size, "the section header table"))[5]
        sections = [_SHDR.unpack(s) for s in _chunks(self.read(shoff, shnum * shentsize, "the section header table"),
                                                     shentsize, _SHDR.size)]
        blob = self.find_symbol(sections)
        if blob is None:
            return {"file_bytes": self.size, "blob_offset": None, "blob_bytes": None}
        value, size, shndx = blob
        if shndx == 0 or shndx >= min(len(sections), _SHN_LORESERVE):
            self.fail(f"{LIBRARY_BIN_SYMBOL.decode()} points at no section")
        _, kind, _, addr, offset, sec_size, _, _, _, _ = sections[shndx]
        if kind == _SHT_NOBITS or value < addr or value + size > addr + sec_size:
            self.fail(f"{LIBRARY_BIN_SYMBOL.decode()} ({size} bytes) does not fit its section")
        if offset + sec_size > self.size:
            self.fail(f"the section holding {LIBRARY_BIN_SYMBOL.decode()} ends at byte {offset + sec_size}, past "
                      f"the end of the {self.size}-byte file")
        if not any(v <= value and value + size <= v + n for v, _, n in loads):
            self.fail(f"{LIBRARY_BIN_SYMBOL.decode()} lies outside the file's loaded segments")
        start = offset + value - addr
        nbytes = _U64.unpack(self.read(start, 8, "the embedded modules' length"))[0]
        if 8 + nbytes > size:
            self.fail(f"the embedded modules claim {nbytes} bytes but their symbol holds {size - 8} "
                      f"({nbytes + 8 - size} missing)")
        self.walk_blob(start + 8, nbytes)
        return {"file_bytes": self.size, "blob_offset": start, "blob_bytes": nbytes}

    def find_symbol(self, sections: list) -> tuple | None:
        """(value, size, section index) of LIBRARY_BIN_SYMBOL: .dynsym first (what dlsym reads)."""
        tables = sorted((s for s in sections if s[1] in (_SHT_DYNSYM, _SHT_SYMTAB)), key=lambda s: s[1] != _SHT_DYNSYM)
        for _, _, _, _, offset, size, link, _, _, entsize in tables:
            if link >= len(sections) or entsize < _SYM.size:
                self.fail("a symbol table is malformed")
            strtab = self.read(sections[link][4], sections[link][5], "a symbol table's names")
            wanted = LIBRARY_BIN_SYMBOL + b"\0"
            names, at = set(), strtab.find(wanted)
            while at >= 0:  # names may share suffixes: any offset where the name starts
                names.add(at)
                at = strtab.find(wanted, at + 1)
            if not names:
                continue
            for name, _, _, shndx, value, sym_size in (_SYM.unpack(c) for c in _chunks(
                    self.read(offset, size, "a symbol table"), entsize, _SYM.size)):
                if name in names and shndx:
                    return value, sym_size, shndx
        return None

    def walk_blob(self, start: int, nbytes: int) -> None:
        """Follow the blob's own lengths (import tree, then kind and bytes per module), reading
        only the length fields: each must stay inside `nbytes`, as TVM's loader expects."""
        end, at = start + nbytes, start

        def u64(what):
            nonlocal at
            if at + 8 > end:
                self.fail(f"the embedded modules end inside {what}")
            at += 8
            return _U64.unpack(self.read(at - 8, 8, what))[0]

        def skip(n, what):
            nonlocal at
            if n > end - at:
                self.fail(f"{what} claims {n} bytes; {end - at} remain in the embedded modules")
            at += n

        count = u64("the import tree")
        if not 0 < count <= 1 << 20:  # one entry per module plus one: a handful
            self.fail(f"the embedded import tree claims {count} modules")
        skip(8 * count, "the import tree")
        skip(8 * u64("the import tree"), "the import tree")
        for _ in range(max(count - 1, 0)):
            n = u64("a module kind")
            skip(n, "a module kind")
            if n != 4 or self.read(at - 4, 4, "a module kind") != b"_lib":  # "_lib": the library itself
                skip(u64("a module"), "a module")


def _chunks(data: bytes, step: int, width: int):
    return (data[i:i + width] for i in range(0, len(data) - width + 1, step))


# -- writing -------------------------------------------------------------------------------------

def export_library(executable, path: str, fcompile=None, **kwargs) -> dict | None:
    """`executable.export_library(path, ...)` that never leaves a corrupt file at `path`: it is
    written to a temporary folder beside `path`, checked with `check_library`, then renamed onto
    `path`. On any failure the temporary file is removed and `path` (an older library, say) is
    left as it was. kwargs go to TVM's export_library. Returns check_library's result.

    A library built with external weights also gets `path`.weights (weights_file.py), written
    and read back (every array's digest) the same way, and renamed into place before the library."""
    export = VMExecutable.export_library if isinstance(executable, CheckedExecutable) else \
        type(executable).export_library  # TVM's own, not the checked override that calls us
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    scratch = tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=folder)
    try:
        written = os.path.join(scratch, name)  # same name: TVM picks the format by its suffix (.so, .tar)
        weights = getattr(executable, "external_weights", None)
        if weights is not None:
            _write_weights(weights, weights_path(written), path)
        export(executable, written, fcompile=fcompile, **kwargs)
        with open(written, "rb") as f:
            result = _Reader(written, f, writing_to=path).check()
        if weights is not None:
            os.replace(weights_path(written), weights_path(path))
        os.replace(written, path)
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write_weights(weights, written: str, path: str) -> None:
    """Write and read back (structure, identity and every digest) the weights file."""
    write_weights(written, weights.arrays, weights.entries, weights.subgraphs)
    try:
        WeightsFile(written, identity=weights.identity).verify()
    except WeightsFileError as err:
        raise CorruptLibraryError(f"the weights file was written damaged, so {path} was not written (a file there "
                                  f"is unchanged): {err}; is the disk full?") from None


class CheckedExecutable(VMExecutable):
    """What `tvm_tensorrt.build` returns: TVM's VMExecutable (VirtualMachine(ex, dev), ex.jit(),
    ex.mod work as before) whose export_library is the checked one above."""

    external_weights = None  # an ExternalWeights (lowering/external.py): written beside the library

    def export_library(self, file_name, *, fcompile=None, **kwargs):
        return export_library(self, file_name, fcompile=fcompile, **kwargs)
