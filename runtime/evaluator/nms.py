"""TensorRT's non-maximum suppression layer (INMSLayer), as its API documentation defines it.

Per batch item: the (box, class) candidates whose score exceeds the score threshold (strictly;
the threshold is 0.0 when the layer has no such input), at most `topk_box_limit` of them by
score; per class, greedily in decreasing score, a box is kept while fewer than
MaxOutputBoxesPerClass are kept and its IoU with every kept box of that class is at most the
IoU threshold (0.0 when not given). Rows are (batch, class, box), ordered by batch, then by
decreasing score *across classes* (ONNX's NonMaxSuppression orders by class first). TensorRT
leaves the order of equal scores unspecified; here ties go by class, then box index (ONNX's
choice within a class). IoU is computed in float32 whatever the input dtype; a pair without
positive union has IoU 0, so it never suppresses (as ONNX's reference has it).
"""

from __future__ import annotations

import numpy as np

from .core import _LAYER_CLASSES, _enum_name, _handler, _input, _unsupported

_LAYER_CLASSES.update({"NMS": "INMSLayer"})


def _corners(boxes: np.ndarray, fmt: str) -> np.ndarray:
    """(..., 4) as (lo0, lo1, hi0, hi1): either diagonal pair of corners, or centre and size."""
    boxes = boxes.astype(np.float32)
    if fmt == "CENTER_SIZES":
        centre, half = boxes[..., :2], boxes[..., 2:] / np.float32(2)
        return np.concatenate([centre - half, centre + half], axis=-1)
    if fmt != "CORNER_PAIRS":
        raise _unsupported(f"bounding box format {fmt}")
    return np.concatenate([np.minimum(boxes[..., :2], boxes[..., 2:]), np.maximum(boxes[..., :2], boxes[..., 2:])],
                          axis=-1)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    lo = np.maximum(box[:2], others[:, :2])
    hi = np.minimum(box[2:], others[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area = lambda b: np.prod(b[..., 2:] - b[..., :2], axis=-1)  # noqa: E731
    union = area(box) + area(others) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), np.float32(0))


def _scalar(value, default, what):
    if value is None:
        return default
    if value.size != 1:
        raise _unsupported(f"NMS {what} of shape {value.shape} (a scalar)")
    return value.reshape(()).item()


@_handler("NMS")
def _nms(ev, layer, ins, dtypes):
    boxes, scores = ins[0], ins[1]
    max_per_class = int(_scalar(ins[2], None, "MaxOutputBoxesPerClass"))
    iou_threshold = np.float32(_scalar(_input(ins, 3), 0.0, "IoU threshold"))
    score_threshold = np.float32(_scalar(_input(ins, 4), 0.0, "score threshold"))
    if scores.ndim != 3 or boxes.ndim not in (3, 4) or boxes.shape[-1] != 4:
        raise _unsupported(f"NMS of boxes {boxes.shape} and scores {scores.shape} "
                           "(boxes [B, N, 4] or [B, N, C, 4], scores [B, N, C])")
    corners = _corners(boxes, _enum_name(layer.bounding_box_format))
    limit = int(layer.topk_box_limit)
    rows = []
    for b in range(scores.shape[0]):
        s = scores[b].astype(np.float32)  # (N, C)
        box_ids, classes = np.nonzero(s > score_threshold)
        order = np.lexsort((box_ids, classes, -s[box_ids, classes]))[:limit]  # by score, then class, box
        kept = []
        for c in np.unique(classes[order]):
            taken: list = []
            for k in order[classes[order] == c]:
                if len(taken) >= max_per_class:
                    break
                box = corners[b, box_ids[k], c] if corners.ndim == 4 else corners[b, box_ids[k]]
                if taken:
                    previous = corners[b, taken, c] if corners.ndim == 4 else corners[b, taken]
                    if np.any(_iou(box, previous.reshape(-1, 4)) > iou_threshold):
                        continue
                taken.append(box_ids[k])
                kept.append(k)
        kept = sorted(kept, key=lambda k: (-s[box_ids[k], classes[k]], classes[k], box_ids[k]))
        rows += [(b, int(classes[k]), int(box_ids[k])) for k in kept]
    selected = np.array(rows, dtype=dtypes[0]).reshape(-1, 3)
    return [selected, np.array(len(rows), dtype=dtypes[1])]
