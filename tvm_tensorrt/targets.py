"""Targets as users write them, as the `tvm.target.Target` TVM 0.27 needs.

TVM 0.27 rejects the classic string "cuda -arch=sm_87" and crashes inside `relax.build` on a
JSON dict (measured), so every entry point normalises here: a kind string ("llvm", "cuda"), the
classic string form, TVM's JSON dict, or a Target; `arch` ("sm_87") for CUDA; and `host` for
cross-compiling the library's host code (a Jetson: `host="aarch64"`).
"""

from __future__ import annotations

import shlex

import tvm

from .errors import ConfigError

# host name -> (LLVM target triple, the cross compiler Debian's packages install)
HOSTS = {
    "aarch64": ("aarch64-linux-gnu", "aarch64-linux-gnu-g++"),
    "x86_64": ("x86_64-linux-gnu", None),
}


def _parse_classic(text: str) -> dict:
    """ "cuda -arch=sm_87 -max_threads_per_block=1024" -> {"kind": "cuda", "arch": "sm_87", ...}"""
    words = shlex.split(text)
    spec = {"kind": words[0]}
    for word in words[1:]:
        key, _, value = word.lstrip("-").partition("=")
        if not key or not value:
            raise ConfigError(f"target option {word!r} in {text!r} is not -key=value")
        spec[key] = int(value) if value.isdigit() else value
    return spec


def _as_target(value, what: str) -> tvm.target.Target:
    if isinstance(value, tvm.target.Target):
        return value
    if isinstance(value, str):
        spec = _parse_classic(value) if value.strip().count(" ") else {"kind": value.strip()}
    elif isinstance(value, dict):
        spec = dict(value)
    else:
        raise ConfigError(f"{what} must be a kind string ('llvm', 'cuda'), a JSON dict or a tvm.target.Target, "
                          f"got {type(value).__name__}")
    try:
        return tvm.target.Target(spec)
    except Exception as err:
        raise ConfigError(f"{what} {value!r} is not a target TVM knows: {err}") from err


def host_target(host) -> tvm.target.Target:
    """`host`: a name in HOSTS, or a target (any form) for the host code."""
    if isinstance(host, str) and host in HOSTS:
        return tvm.target.Target({"kind": "llvm", "mtriple": HOSTS[host][0]})
    return _as_target(host, "host")


def make_target(target="llvm", arch=None, host=None) -> tvm.target.Target:
    """The Target for tvm.compile. arch: a CUDA architecture ("sm_87"); host: see host_target."""
    if arch is not None:
        target = _as_target(target, "target")
        if target.kind.name != "cuda":
            raise ConfigError(f"arch={arch!r} applies to CUDA targets, not {target.kind.name!r}")
        target = {**target.export(), "arch": arch}
    target = _as_target(target, "target")
    if host is None:
        return target
    host = host_target(host)
    if target.kind.name == "llvm":  # the whole library is host code: compile it for the host
        return host
    return tvm.target.Target(target, host=host)


def cross_compiler(host):
    """The `fcompile` for `export_library` when cross-compiling for `host`, or None."""
    if host is None or not isinstance(host, str) or HOSTS.get(host, (None, None))[1] is None:
        return None
    import shutil

    compiler = HOSTS[host][1]
    if shutil.which(compiler) is None:
        raise ConfigError(f"cross-compiling for {host} needs {compiler}: install Debian's g++-{host}-linux-gnu "
                          f"(apt-get install g++-{host.replace('_', '-')}-linux-gnu)")
    return tvm.support.cc.cross_compiler(compiler)
