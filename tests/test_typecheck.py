"""A static type check (mypy) of runtime/ against the signatures of the TensorRT bindings in use.

The bindings ship no stubs, so they are generated here from the installed module (pybind11
writes each signature into its docstring; mypy's stubgen reads them). The check would have
caught a shipped defect: a bound method passed where `set_tensor_address` takes an address
(`test_the_check_fails_on_the_defect_it_exists_for` reintroduces it and expects mypy to fail).
"""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The card's layout: runtime/, partition/, ... are installed as tvm_tensorrt.<name> (pyproject's
# package-dir); mypy reads sources, so a tree of links gives it the installed package's shape.
SUBPACKAGES = ("runtime", "partition", "converters", "verification")
CONFIG = """[mypy]
ignore_missing_imports = True
follow_imports = silent
warn_unused_ignores = False
[mypy-tvm.*]
follow_imports = skip
[mypy-tensorrt_rtx_bindings.*]
ignore_errors = True
"""


def _fix_defaults(line: str) -> str:
    """pybind11 can write a parameter without a default after ones with defaults
    (add_scale_nd's channel_axis): give the later ones `= ...` so the stub parses."""
    head, sep, rest = line.partition("(")
    if not sep or "= ..." not in rest:
        return line
    params, close, tail = rest.rpartition(") ->")
    parts, seen_default = [], False
    for part in params.split(", "):
        if "= ..." in part:
            seen_default = True
        elif seen_default and ":" in part and not part.strip().startswith("*"):
            part += " = ..."
        parts.append(part)
    return head + sep + ", ".join(parts) + close + tail


@pytest.fixture(scope="module")
def package_tree(tmp_path_factory):
    from tvm_tensorrt.backend import load_backend

    load_backend()  # the preload below uses the libraries the backend found
    import onnxruntime_ep_nv_tensorrt_rtx as rtx

    folder = os.path.dirname(rtx.__file__)
    preload = ":".join(os.path.join(folder, f) for f in sorted(os.listdir(folder))
                       if re.match(r"libtensorrt(_onnxparser)?_rtx\.so\.", f))
    root = tmp_path_factory.mktemp("typecheck")
    stubs = root / "stubs"
    subprocess.run([sys.executable, "-c", "import sys; from mypy.stubgen import main; main(sys.argv[1:])", "-p", "tensorrt_rtx_bindings", "-o", str(stubs)],
                   check=True, capture_output=True, env={**os.environ, "LD_PRELOAD": preload})
    for stub in (stubs / "tensorrt_rtx_bindings").glob("*.pyi"):
        stub.write_text("\n".join(_fix_defaults(line) for line in stub.read_text().splitlines()) + "\n")
    package = root / "pkg" / "tvm_tensorrt"
    package.mkdir(parents=True)
    for name in os.listdir(os.path.join(ROOT, "tvm_tensorrt")):
        os.symlink(os.path.join(ROOT, "tvm_tensorrt", name), package / name)
    for name in SUBPACKAGES:
        os.symlink(os.path.join(ROOT, name), package / name)
    (root / "mypy.ini").write_text(CONFIG)
    return root


def mypy(root, *targets) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(root / "mypy.ini"),
                           "--cache-dir", str(root / "cache"), *targets], capture_output=True, text=True,
                          cwd=root, env={**os.environ, "MYPYPATH": f"{root / 'pkg'}:{root / 'stubs'}"})


def test_runtime_type_checks_against_the_tensorrt_bindings(package_tree):
    result = mypy(package_tree, "-p", "tvm_tensorrt.runtime")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_check_fails_on_the_defect_it_exists_for(package_tree):
    """The shipped defect, a method where TensorRT takes an address, in a copy of gpu.py."""
    source = open(os.path.join(ROOT, "runtime", "gpu.py")).read()
    assert "int(t.data_ptr())" in source
    defect = package_tree / "pkg" / "gpu_with_defect.py"
    defect.write_text(source.replace("int(t.data_ptr())", "t.data_ptr").replace("from ..", "from tvm_tensorrt."))
    result = mypy(package_tree, str(defect))
    assert result.returncode == 1 and "gpu_with_defect.py:47: error" in result.stdout \
        and "Callable[[], int]" in result.stdout, result.stdout + result.stderr
