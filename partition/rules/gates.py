"""Version gates of the rules added after the original Relay table.

Their converters use layers, modes and dtypes (select, cast, comparisons, ISNAN/ISINF, GELU
activations, int64 and bool tensors) that we check against TensorRT 10's API, the level
TensorRT-RTX implements. Some existed earlier, but a gate we cannot test would be a guess, so
older targets keep these ops in TVM.
"""

TENSORRT_10 = (10, 0, 0)
