"""Hints in the words of the command line. Errors and partition reasons name the Python
arguments that change things (`use_implicit_batch=False`, `cpu_fallback=True`), which is right
for a caller of the API; at the shell the same hint must name the flag. The CLI passes every
message and table it prints through `cli_words`.
"""

from __future__ import annotations

import re

# (Python words, CLI words): the longest first where one contains another
_WORDS = [
    (r"from_onnx\(\.\.\., shape_dict=\{name: shape\}\), CLI --shape", "--shape"),
    (r"dim_ranges=\{'([^']+)': \((\d+), (\d+), (\d+)\)\} \(CLI: --dim [^)]*\)", r"--dim \1=\2:\3:\4"),
    (r"\bbuilt with cpu_fallback=False\b", "compiled with --no-cpu-fallback"),
    (r"\brebuild with cpu_fallback=True\b", "compile it again without --no-cpu-fallback"),
    (r"\bcpu_fallback=False\b", "--no-cpu-fallback"),
    (r"\buse_implicit_batch=False\b", "--explicit-batch"),
    (r"\buse_implicit_batch=True\b", "--implicit-batch"),
    (r"\bis in ops_to_exclude\b", "is excluded (--exclude)"),
    (r"\bno_fuse names unknown patterns\b", "--no-fuse names unknown patterns"),
    (r"\(no_fuse=", "(--no-fuse "),
    (r"\(min_subgraph_size\)", "(--min-subgraph-size)"),
    (r"\(remove_no_mac_subgraphs\)", "(--remove-no-mac-subgraphs)"),
    (r"\bremove_no_compute_subgraphs=False\b", "--keep-no-compute-subgraphs"),
    (r"\bprebuild_engines=True\b", "--prebuild-engines"),
    (r'\bcompile for this one with target="(\w+)"', r"compile for this one with --target \1"),
    (r"\bverify precision='(\w+)'", r"verify --precision \1"),
    (r"\bpass precision='fp32', 'fp16' or 'bf16'", "pass --precision fp32, fp16 or bf16"),
]
_COMPILED = [(re.compile(python), cli) for python, cli in _WORDS]


def cli_words(text: str) -> str:
    for pattern, replacement in _COMPILED:
        text = pattern.sub(replacement, text)
    return text
