"""Importers for ONNX ops whose values are shapes or sizes computed from symbolic dims (Range,
Slice, Tile, Expand, Concat of shapes, ...): TVM 0.27's importer makes a fresh size variable
or fails where the value is a known expression of the model's named axes."""

SYMBOLIC_OVERRIDES: dict = {}
