"""Fuzz the partitioner with many random graphs (tests/partition_fuzz.py): each must partition
well-formed (no cycle through TVM code), keep every call in exactly one place, and compute the
same values through TVM as the unpartitioned module.

    .venv/bin/python bench/partition_fuzz.py [--examples 10000] [--seed 0]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def main(argv=None):
    from hypothesis import HealthCheck, given, seed, settings

    from partition_fuzz import check_graph, graphs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.getLogger("tvm_tensorrt").setLevel(logging.ERROR)  # one fallback warning per graph otherwise
    checked = []

    @seed(args.seed)
    @settings(max_examples=args.examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(graphs())
    def fuzz(graph):
        check_graph(*graph, compare_numbers=True)
        checked.append(len(graph[0]))

    start = time.perf_counter()
    fuzz()
    print(f"{len(checked)} random graphs ({sum(checked) / max(1, len(checked)):.1f} ops on average) partitioned "
          f"well-formed, every call once, same values: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
