"""Partitioning: which Relax calls TensorRT runs, grouped into the fewest safe subgraphs."""

from .api import Decision, partition_for_tensorrt, partition_with_decisions
from .registry import get_rule, register_rule, registered_rule_names, unregister_rule

__all__ = ["Decision", "get_rule", "partition_for_tensorrt", "partition_with_decisions", "register_rule",
           "registered_rule_names", "unregister_rule"]
