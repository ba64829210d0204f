"""`tvm-tensorrt serve`: a Triton Inference Server for one library, on loopback by default.

The server is the `tritonserver` binary that `nvidia-pytriton` ships (the `[serve]` extra), run
with its Python backend over a model repository written to a temporary folder (repository.py).
Three things make that binary serve from our environment:

- a private backend folder holding the Python backend and the stub built for this interpreter's
  Python version (the wheel keeps one stub per version beside the backend, not in it);
- LD_LIBRARY_PATH starting with this interpreter's own library folder: the stub links
  `libpython3.X`, and the system's copy next to a separately built interpreter fails at model
  start-up (`'_thread.RLock' object has no attribute '_recursion_count'`); then the wheel's libs;
- the interpreter's site folders, passed to the stub in the model config, so it imports this
  environment's tvm_tensorrt.

SIGTERM and Ctrl-C stop Triton (in-flight requests get up to EXIT_TIMEOUT_S), then the folder goes.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import logging
import os
import signal
import site
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from typing import Optional

from ..errors import ConfigError, TensorRTError
from .repository import DEFAULT_QUEUE_DELAY_US, write_model
from .signature import read_signature

logger = logging.getLogger("tvm_tensorrt")
EXIT_TIMEOUT_S = 5
START_TIMEOUT_S = 300


class ServeError(TensorRTError, RuntimeError):
    """The Triton server could not start (missing package, port taken, model failed to load)."""


def triton_dist() -> str:
    """The folder of the tritonserver binary, backends and stubs inside nvidia-pytriton."""
    spec = importlib.util.find_spec("pytriton")  # found, not imported: its Python API is not used
    folder = os.path.join(os.path.dirname(spec.origin), "tritonserver") if spec and spec.origin else None
    if folder is None or not os.path.isfile(os.path.join(folder, "bin", "tritonserver")):
        raise ServeError("the Triton server is not installed: pip install 'tvm-tensorrt[serve]' (setup.sh does), "
                         "or `pip install --no-deps nvidia-pytriton==0.7.0`, which ships the tritonserver binary")
    return folder


def _backend_folder(dist: str, into: str) -> str:
    """backends/python with the stub for this Python; links, not copies (28 MB stays where it is)."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    stub = os.path.join(dist, "python_backend_stubs", version, "triton_python_backend_stub")
    if not os.path.isfile(stub):
        have = sorted(os.listdir(os.path.join(dist, "python_backend_stubs")))
        raise ServeError(f"nvidia-pytriton has no Python backend stub for Python {version} (it has {', '.join(have)}); "
                         "serve from one of those Python versions")
    python = os.path.join(into, "backends", "python")
    os.makedirs(python)
    for source in (os.path.join(dist, "backends", "python", "libtriton_python.so"),
                   os.path.join(dist, "backends", "python", "triton_python_backend_utils.py"), stub):
        os.symlink(source, os.path.join(python, os.path.basename(source)))
    return os.path.dirname(python)


def server_environment(dist: str, base: Optional[dict] = None) -> dict:
    env = dict(os.environ if base is None else base)
    libs = os.path.join(os.path.dirname(os.path.dirname(dist)), "nvidia_pytriton.libs")
    first = [sysconfig.get_config_var("LIBDIR") or "", libs]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in first + env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p)
    return env


def site_dirs() -> list:
    """This interpreter's site folders (a virtualenv's first), for the stub to add."""
    folders = site.getsitepackages() + ([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])
    return [f for f in folders if os.path.isdir(f)]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """A SIGKILLed `serve` must not leave Triton holding its ports."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_ports(count: int = 3, host: str = "127.0.0.1") -> list:
    """`count` ports nothing listens on now, for a server beside others on one machine (tests,
    benchmarks, several `serve` runs): the ports are released again before Triton binds them, so
    another process could take one in between; Triton then fails to start and says which port."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class TritonServer:
    """A running tritonserver; `stop()` (or leaving a `with`) ends it and removes its folder."""

    def __init__(self, library: str, name: Optional[str] = None, http_port: int = 8000, grpc_port: int = 8001,
                 metrics_port: int = 8002, max_batch_size: Optional[int] = None,
                 max_queue_delay_us: int = DEFAULT_QUEUE_DELAY_US, instances: int = 1, host: str = "127.0.0.1",
                 verbose: bool = False):
        for flag, port in (("http_port", http_port), ("grpc_port", grpc_port), ("metrics_port", metrics_port)):
            if not isinstance(port, int) or not 0 < port < 65536:
                raise ConfigError(f"{flag} must be a port number from 1 to 65535, got {port!r}")
        if len({http_port, grpc_port, metrics_port}) != 3:
            raise ConfigError(f"http_port, grpc_port and metrics_port must differ, got {http_port}, {grpc_port}, "
                              f"{metrics_port}")
        dist = triton_dist()
        self.signature = read_signature(library)
        self.host, self.http_port, self.grpc_port, self.metrics_port = host, http_port, grpc_port, metrics_port
        self._folder = tempfile.mkdtemp(prefix="tvm-tensorrt-triton-")
        try:
            import tvm

            kind = "gpu" if tvm.cuda(0).exist else "cpu"
            model = write_model(os.path.join(self._folder, "models"), library, name, max_batch_size,
                                max_queue_delay_us, instances, kind, copy_library=False, site_dirs=site_dirs(),
                                signature=self.signature)
            self.name = os.path.basename(model)
            self.config_path = os.path.join(model, "config.pbtxt")
            self.log_path = os.path.join(self._folder, "tritonserver.log")
            command = [os.path.join(dist, "bin", "tritonserver"), f"--model-repository={os.path.dirname(model)}",
                       f"--backend-directory={_backend_folder(dist, self._folder)}",
                       f"--http-address={host}", f"--http-port={http_port}", f"--grpc-address={host}",
                       f"--grpc-port={grpc_port}", f"--metrics-address={host}", f"--metrics-port={metrics_port}",
                       f"--exit-timeout-secs={EXIT_TIMEOUT_S}", "--disable-auto-complete-config"]
            self._log = None if verbose else open(self.log_path, "wb")
            self.process = subprocess.Popen(command, env=server_environment(dist), stdin=subprocess.DEVNULL,
                                            stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        except BaseException:
            self._remove_folder()
            raise

    @property
    def url(self) -> str:
        """host:port of the HTTP endpoint (what tritonclient.http takes)."""
        return f"{'127.0.0.1' if self.host in ('0.0.0.0', '') else self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.url.rsplit(':', 1)[0]}:{self.grpc_port}"

    def wait_ready(self, timeout: float = START_TIMEOUT_S, stop=None) -> "TritonServer":
        """Block until the model answers readiness (or `stop()` says to give up waiting); a server
        that exits or never gets there is a ServeError with the end of Triton's log."""
        deadline = time.monotonic() + timeout
        probe = f"http://{self.url}/v2/models/{self.name}/ready"
        while time.monotonic() < deadline:
            if stop is not None and stop():
                return self
            if self.process.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise ServeError(f"tritonserver exited with code {self.process.returncode} before {self.name} was "
                                 f"ready:\n{tail}")
            try:
                with urllib.request.urlopen(probe, timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        tail = self.log_tail()
        self.stop()
        raise ServeError(f"{self.name} was not ready after {timeout:.0f} s:\n{tail}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                text = [line.rstrip() for line in f if line.strip() and not line.startswith(("+", "|"))]
        except OSError:
            return "(no log: the server was started with verbose=True, its log went to the terminal)"
        errors = [line for line in text if line.startswith("E") or "error" in line.lower()]
        return "\n".join((errors or text)[-lines:])

    def stop(self, timeout: float = EXIT_TIMEOUT_S + 5) -> int:
        """SIGTERM (Triton finishes in-flight requests), SIGKILL past `timeout`; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
        self._remove_folder()
        return self.process.returncode

    def _remove_folder(self) -> None:
        import shutil

        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def serve(library: str, name: Optional[str] = None, http_port: int = 8000, grpc_port: int = 8001,
          metrics_port: int = 8002, max_batch_size: Optional[int] = None,
          max_queue_delay_us: int = DEFAULT_QUEUE_DELAY_US, instances: int = 1, host: str = "127.0.0.1",
          block: bool = True, verbose: bool = False, out=None):
    """Serve `library` on Triton until SIGTERM or Ctrl-C (block=False: return the ready
    TritonServer; stop it with .stop() or a `with` block)."""
    options = (library, name, http_port, grpc_port, metrics_port, max_batch_size, max_queue_delay_us, instances,
               host, verbose)
    if not block:
        server = TritonServer(*options)
        try:
            return server.wait_ready()
        except BaseException:  # Ctrl-C while the model loads: no server or folder left behind
            server.stop()
            raise
    out = out or sys.stdout
    stopping: list = []
    # From the start, not once ready: a SIGTERM while the model loads stops it as cleanly
    previous = {s: signal.signal(s, lambda signum, _frame: stopping.append(signum))
                for s in (signal.SIGTERM, signal.SIGINT)}
    server = None
    try:
        server = TritonServer(*options)
        server.wait_ready(stop=lambda: bool(stopping))
        if not stopping:
            print(f"Serving {server.name} on http://{server.url} (gRPC {server.grpc_url}, metrics port "
                  f"{metrics_port}); Ctrl-C stops", file=out, flush=True)
        while not stopping and server.process.poll() is None:
            time.sleep(0.1)
        tail = "" if stopping else server.log_tail()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        code = server.stop() if server is not None else None
    if not stopping:
        raise ServeError(f"tritonserver exited with code {code}:\n{tail}")
    print(f"Stopped {server.name}", file=out, flush=True)
    return None
