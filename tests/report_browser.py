"""What the browser tests of the HTML report share: a synthetic model of any size, and a real
headless Chromium (Debian's package, installed by setup.sh) driven through Playwright."""

from __future__ import annotations

import os
import shutil

import numpy as np
from tvm import relax

BROWSER_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def browser_binary() -> str | None:
    """The browser the tests drive: $CHROMIUM, else the first Chromium found."""
    found = [os.environ.get("CHROMIUM")] + list(BROWSER_PATHS) + [shutil.which("chromium")]
    return next((path for path in found if path and os.access(path, os.X_OK)), None)


def many_op_module(ops: int, kept_every: int = 150, width: int = 64) -> relax.Function:
    """A chain of `ops` element-wise operator calls with residual adds, and a softmax every
    `kept_every` calls (partition it with ops_to_exclude=["nn.softmax"]: each softmax then
    stays in TVM and cuts the chain into another subgraph)."""
    import tvm

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, width), "float32"))
    scale = relax.const(np.full((1, width), 0.5, "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            values = [x]
            for i in range(ops):
                last = values[-1]
                if i % kept_every == kept_every - 1:
                    call = relax.op.nn.softmax(last)
                elif i % 10 == 9:
                    call = relax.op.add(last, values[-5])
                else:
                    call = (relax.op.multiply(last, scale), relax.op.tanh(last), relax.op.nn.relu(last))[i % 3]
                values.append(bb.emit(call))
            out = bb.emit_output(values[-1])
        bb.emit_func_output(out)
    return tvm.IRModule({"main": bb.get()["main"]})


class ReportPage:
    """One page of a report in headless Chromium; errors holds every console error and
    uncaught exception the page raised."""

    def __init__(self, path, width: int = 1400, height: int = 900):
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self.errors: list[str] = []
        try:
            self._browser = self._playwright.chromium.launch(executable_path=browser_binary(),
                                                             args=["--no-sandbox", "--disable-gpu"])
            self.page = self._browser.new_page(viewport={"width": width, "height": height})
            self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
            self.page.on("pageerror", lambda error: self.errors.append(str(error)))
            self.page.goto(f"file://{os.path.abspath(path)}")
            self.page.wait_for_selector("body[data-ready]", timeout=15_000)
        except Exception as err:  # stop the browser, or every later page of this process fails too
            self._playwright.stop()
            raise AssertionError(f"the report did not get ready; page errors: {self.errors}") from err

    def count(self, selector: str) -> int:
        return self.page.locator(selector).count()

    def close(self):
        self._browser.close()
        self._playwright.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
