"""How fast the HTML partition report opens in a real browser (issue goal: a 2,000-operator
model loads in under 3 s).

    python bench/report_load.py               # 2,000 operators
    python bench/report_load.py --ops 5000

Loads the report of a synthetic chain (tests/report_browser.py) in headless Chromium and prints
the time from navigation to the first drawn picture (collapsed, as large models open), and the
time to expand every subgraph. Exits 1 when the load misses the goal.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

GOAL_SECONDS = 3.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import tvm_tensorrt
    from report_browser import ReportPage, browser_binary, many_op_module

    if browser_binary() is None:
        print("no Chromium found (setup.sh installs Debian's chromium package)")
        return 1
    report = tvm_tensorrt.explain(many_op_module(args.ops), ops_to_exclude=["nn.softmax"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.html"
        report.to_html(path)
        size = path.stat().st_size
        loads, expands = [], []
        for _ in range(args.runs):
            page = ReportPage(path)  # returns once the page has drawn (body[data-ready])
            ready = page.page.evaluate("performance.now()")  # ms since navigation began
            loads.append(ready / 1000)
            start = time.perf_counter()
            page.page.click("#expand-all")
            page.page.wait_for_function(f"document.querySelectorAll('.unit.op').length === {args.ops}")
            expands.append(time.perf_counter() - start)
            assert not page.errors, page.errors
            page.close()
    load = max(loads)
    print(f"{args.ops} operators, {len(report.subgraphs)} subgraphs, report {size / 1e6:.2f} MB")
    print(f"load to first picture: {', '.join(f'{t:.2f}' for t in loads)} s (worst {load:.2f} s, goal {GOAL_SECONDS} s)")
    print(f"expand all: {', '.join(f'{t:.2f}' for t in expands)} s")
    return 0 if load <= GOAL_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
