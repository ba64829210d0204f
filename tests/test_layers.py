"""The layer contract (docs/architecture.md): imports run one way, from a higher layer to a
lower one or within a layer. A back-import (the partitioner reaching into the runtime, the
runtime into verification) fails here, wherever it sits: module level or inside a function."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# folder in the repository -> the package it installs as (pyproject.toml's package-dir)
FOLDERS = {"tvm_tensorrt": "tvm_tensorrt", "partition": "tvm_tensorrt.partition",
           "converters": "tvm_tensorrt.converters", "runtime": "tvm_tensorrt.runtime", "verification": "tvm_tensorrt.verification"}

# lowest first; a module belongs to the longest prefix listed
LAYERS = [
    ("leaf: errors, shared facts, registries, TensorRT discovery and its log bridge",
     ["tvm_tensorrt.errors", "tvm_tensorrt.common", "tvm_tensorrt.registry", "tvm_tensorrt.backend",
      "tvm_tensorrt.trt_log", "tvm_tensorrt.shared_tensors", "tvm_tensorrt.file_writes",
      "tvm_tensorrt.collector_safe_lock"]),
    ("formats: what a library carries, and its file checked", ["tvm_tensorrt.formats", "tvm_tensorrt.library_file",
                                                               "tvm_tensorrt.weights_file"]),
    ("partition and converters (and the ONNX frontend, targets; serialize: the partitioner converts each region)",
     ["tvm_tensorrt.partition", "tvm_tensorrt.converters", "tvm_tensorrt.lowering.serialize",
      "tvm_tensorrt.frontend", "tvm_tensorrt.canonicalize",
      "tvm_tensorrt.onnx_ops", "tvm_tensorrt.onnx_symbolic", "tvm_tensorrt.onnx_resize", "tvm_tensorrt.onnx_weights",
      "tvm_tensorrt.onnx_fold", "tvm_tensorrt.onnx_loops", "tvm_tensorrt.onnx_mapped", "tvm_tensorrt.onnx_external",
      "tvm_tensorrt.onnx_explain", "tvm_tensorrt.targets", "tvm_tensorrt.models",
      "tvm_tensorrt.calibration"]),
    ("compile-time lowering: Relax -> serialised subgraphs", ["tvm_tensorrt.lowering"]),
    ("runtime: engines, cache, execution, the CPU evaluator", ["tvm_tensorrt.runtime"]),
    ("verification, flows (build), CLI, the package face",
     ["tvm_tensorrt.verification", "tvm_tensorrt.flows", "tvm_tensorrt.cli", "tvm_tensorrt.triton", "tvm_tensorrt"]),
]


def layer_of(module: str) -> int:
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    assert best is not None, f"{module} is in no layer: add it to LAYERS and docs/architecture.md"
    return best[0]


def modules():
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            if folder == "tvm_tensorrt" and any(path.is_relative_to(ROOT / "tvm_tensorrt" / sub)
                                                for sub in ("models",)) and path.name != "__init__.py":
                continue  # the bundled model's generator script
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            name = ".".join([package] + (parts[:-1] if is_package else parts))
            yield name, is_package, path


def imports_of(name: str, is_package: bool, path: Path):
    """(line, imported module) for every import of a tvm_tensorrt module, at any depth."""
    package = name if is_package else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # `from . import x` imports the module x
            targets = [f"{stem}.{a.name}" if not node.module else stem for a in node.names]
        else:
            continue
        for target in targets:
            if target == "tvm_tensorrt" or target.startswith("tvm_tensorrt."):
                yield node.lineno, target


ALL = list(modules())


def test_every_module_has_a_layer():
    for name, _, _ in ALL:
        layer_of(name)


@pytest.mark.parametrize("name,is_package,path", ALL, ids=[m[0] for m in ALL])
def test_imports_only_go_down(name, is_package, path):
    mine = layer_of(name)
    back = [f"{path.relative_to(ROOT)}:{line} imports {target} ({LAYERS[layer_of(target)][0]})"
            for line, target in imports_of(name, is_package, path) if layer_of(target) > mine]
    assert not back, f"{name} is in layer '{LAYERS[mine][0]}' but " + "; ".join(back)


def test_the_contract_catches_a_back_import(tmp_path):
    """The checker itself: a partition module that imports the runtime is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from ..runtime.engine_set import prebuild\n")
    found = [t for _, t in imports_of("tvm_tensorrt.partition.bad", False, bad)]
    assert found == ["tvm_tensorrt.runtime.engine_set"]
    assert layer_of(found[0]) > layer_of("tvm_tensorrt.partition.bad")


def _folder_of(module: str) -> str:
    """The top-level folder on disk that holds a module (FOLDERS: folder -> installed package)."""
    best = max((package for package in FOLDERS.values() if module == package or module.startswith(package + ".")),
               key=len)
    return next(folder for folder, package in FOLDERS.items() if package == best)


def relative_imports_leaving_their_folder(name: str, is_package: bool, path: Path) -> list:
    """A relative import names a path on disk to a reader: `..errors` in partition/ reads as
    ./errors.py beside partition/, which is not where tvm_tensorrt/errors.py is. Across the
    top-level folders imports are absolute."""
    package = name if is_package else name.rsplit(".", 1)[0]
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            if _folder_of(target) != _folder_of(name):
                found.append(f"{shown}:{node.lineno} from {'.' * node.level}{node.module or ''}")
    return found


def test_relative_imports_stay_in_their_folder():
    found = [f for name, is_package, path in ALL for f in relative_imports_leaving_their_folder(name, is_package, path)]
    assert not found, "import these absolutely (from tvm_tensorrt.X import ...): " + "; ".join(found)


def test_the_relative_import_check_catches_one(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from ..errors import ConversionError\nfrom .checks import dims\n")
    assert relative_imports_leaving_their_folder("tvm_tensorrt.partition.bad", False, bad) == [f"{bad}:1 from ..errors"]
