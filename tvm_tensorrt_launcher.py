"""The `tvm-tensorrt` command's entry point (pyproject.toml's [project.scripts]).

It lives outside the package on purpose: importing `tvm_tensorrt` imports TVM (about 1.3 s), and
until cli.main() installs its Ctrl-C handling (cli_interrupt.py) Python's default handler would
turn a Ctrl-C into a traceback from deep inside TVM's import. This module imports nothing heavy,
installs a start-up handler first, then imports the CLI. Nothing is written during the imports,
so the handler can end the process at once with the CLI's one line and exit code 130.
`python -m tvm_tensorrt_launcher` behaves the same; `python -m tvm_tensorrt.cli` imports the
package before any code of the CLI runs (Python's own start-up, ~30 ms, is always Python's).
"""

import os
import signal
import sys

INTERRUPTED = 130  # cli_interrupt.INTERRUPTED (not imported: that module imports the package)


def _interrupted_while_starting(signum, frame) -> None:
    os.write(2, b"tvm-tensorrt: interrupted\n")
    os._exit(INTERRUPTED)


def main() -> int:
    signal.signal(signal.SIGINT, _interrupted_while_starting)
    from tvm_tensorrt.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
