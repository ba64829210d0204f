"""The `serve` and `export-triton` subcommands (tvm_tensorrt/cli.py adds them and calls run())."""

from __future__ import annotations

import re
import sys

from .repository import DEFAULT_QUEUE_DELAY_US, INSTANCE_KINDS

COMMANDS = ("serve", "export-triton")


def _batching_flags(p) -> None:
    p.add_argument("--name", help="Triton model name (default: the library's file name without .so)")
    p.add_argument("--max-batch-size", type=int, metavar="N",
                   help="largest batch Triton forms (default: the engine profile's maximum, from --dim at compile; "
                        "0 turns batching off)")
    p.add_argument("--max-queue-delay-us", type=int, default=DEFAULT_QUEUE_DELAY_US, metavar="US",
                   help=f"how long a request may wait for others to batch with (default {DEFAULT_QUEUE_DELAY_US})")
    p.add_argument("--instances", type=int, default=1, metavar="N", help="model instances (processes) per device")


def add_commands(sub) -> None:
    s = sub.add_parser("serve", help="serve a compiled library on Triton Inference Server (loopback by default)")
    s.add_argument("library", help="compiled .so")
    _batching_flags(s)
    s.add_argument("--http-port", type=int, default=8000)
    s.add_argument("--grpc-port", type=int, default=8001)
    s.add_argument("--metrics-port", type=int, default=8002)
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    e = sub.add_parser("export-triton", help="write a Triton model repository for a compiled library")
    e.add_argument("library", help="compiled .so")
    e.add_argument("repository", help="model repository folder (created if missing)")
    _batching_flags(e)
    e.add_argument("--instance-kind", choices=sorted(INSTANCE_KINDS), default="gpu",
                   help="where instances run: gpu (default: one set per GPU), cpu, or auto")
    e.add_argument("--site-packages", action="append", metavar="DIR",
                   help="a folder the server's Python adds before importing tvm_tensorrt (repeatable), e.g. a "
                        "virtualenv's site-packages inside the server image")


def _flag_error(err: Exception) -> Exception:
    """A ConfigError in the words of the shell: Python argument names become the flags."""
    text = str(err)
    for arg in ("max_batch_size", "max_queue_delay_us", "instances", "instance_kind", "http_port", "grpc_port",
                "metrics_port"):
        flag = "--" + arg.replace("_", "-")
        text = re.sub(rf"\b{arg}=", flag + " ", text)
        text = re.sub(rf"\b{arg}\b", flag, text)
    return type(err)(text)


def run(args, out=sys.stdout) -> int:
    from ..errors import ConfigError

    try:
        if args.command == "serve":
            from .server import serve

            serve(args.library, args.name, args.http_port, args.grpc_port, args.metrics_port, args.max_batch_size,
                  args.max_queue_delay_us, args.instances, args.host, verbose=args.verbose, out=out)
        else:
            from .repository import export_triton

            folder = export_triton(args.library, args.repository, args.name, args.max_batch_size,
                                   args.max_queue_delay_us, args.instances, args.instance_kind,
                                   args.site_packages)
            print(f"Wrote {folder} (config.pbtxt, 1/model.py, 1/library.so)", file=out)
    except ConfigError as err:
        raise _flag_error(err) from None
    return 0
