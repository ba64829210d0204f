"""Importers for ONNX Resize / Upsample (to sizes or scales computed from symbolic dims) and the
exporters' Loop forms that TVM 0.27's importer cannot take."""

RESIZE_OVERRIDES: dict = {}
