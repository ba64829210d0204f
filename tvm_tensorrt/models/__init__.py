"""Models bundled with the package (the CLI's default)."""

import os

DEFAULT_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "default_cnn.onnx")
