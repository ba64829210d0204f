"""The card's layout: partition/, converters/, runtime/ (and verification/) are top-level folders,
installed as tvm_tensorrt.partition etc., from an editable install and from a wheel."""

import glob
import importlib
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBPACKAGES = {"tvm_tensorrt.partition": "partition", "tvm_tensorrt.partition.rules": "partition/rules",
               "tvm_tensorrt.converters": "converters", "tvm_tensorrt.runtime": "runtime",
               "tvm_tensorrt.verification": "verification", "tvm_tensorrt.runtime.evaluator": "runtime/evaluator",
               "tvm_tensorrt.formats": "tvm_tensorrt/formats", "tvm_tensorrt.lowering": "tvm_tensorrt/lowering"}
IMPORT_ALL = ("import importlib, json; print(json.dumps({m: importlib.import_module(m).__file__ for m in "
              "['tvm_tensorrt', 'tvm_tensorrt.models'] + %r}))")


def test_repository_root_shows_the_card_s_layout():
    for entry in ("pyproject.toml", "README.md", "partition", "converters", "runtime", "tests", "docs"):
        assert os.path.exists(os.path.join(ROOT, entry)), entry
    assert not os.path.exists(os.path.join(ROOT, "tvm_tensorrt", "partition"))


def test_editable_install_maps_every_subpackage_to_its_folder():
    for module, folder in SUBPACKAGES.items():
        path = importlib.import_module(module).__file__
        assert os.path.dirname(path) == os.path.join(ROOT, folder), (module, path)


def test_a_wheel_installs_every_subpackage(tmp_path):
    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info/ where it builds
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "tvm_tensorrt_launcher.py"):  # the last: the command's module
        shutil.copy(os.path.join(ROOT, name), source / name)
    for folder in {"tvm_tensorrt", *(f.split("/")[0] for f in SUBPACKAGES.values())}:
        shutil.copytree(os.path.join(ROOT, folder), source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(source), "-w",
                    str(tmp_path / "dist")], check=True, capture_output=True, timeout=600)
    [wheel] = glob.glob(str(tmp_path / "dist" / "*.whl"))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), wheel],
                   check=True, capture_output=True, timeout=600)
    proc = subprocess.run([sys.executable, "-c", IMPORT_ALL % list(SUBPACKAGES)], capture_output=True, text=True,
                          cwd=str(tmp_path), env={**os.environ, "PYTHONPATH": str(target)}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    files = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(files) == len(SUBPACKAGES) + 2
    assert all(path.startswith(str(target)) for path in files.values()), files
    # package data: the bundled model, and what the HTML partition report inlines
    for data in ("tvm_tensorrt/models/default_cnn.onnx", "tvm_tensorrt/partition/report_assets/report.js",
                 "tvm_tensorrt/partition/report_assets/report.css", "tvm_tensorrt/partition/report_assets/report.html"):
        assert (target / data).is_file(), data
    assert (target / "tvm_tensorrt_launcher.py").is_file()  # [project.scripts]' tvm-tensorrt
