"""Every file we write for a user (a library's metadata, plans, timing and calibration caches)
appears whole or not at all: written beside its final name, flushed to disk, then renamed over it.
An interrupted write (Ctrl-C, a full disk, a killed process) leaves the previous file as it was
and no partial one behind. Exported libraries have their own, checked, variant
(library_file.export_library: TVM writes them)."""

from __future__ import annotations

import contextlib
import os
import secrets


def write_atomically(path: str, data: bytes, private: bool = False) -> None:
    """`private`: readable by the owner only (engine caches: another user must not swap in a plan);
    otherwise the umask decides, as for any file the user writes. The temporary is created with
    O_EXCL, so a link planted at its name is never written through; os.replace swaps a link at
    `path` itself, never its target."""
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, 0o600 if private else 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
