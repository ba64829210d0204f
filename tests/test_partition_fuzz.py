"""Property-based fuzzing of the partitioner: 150 random graphs a run here, a new draw each run
(each is partitioned and built twice: ~0.45 s), ten thousand in bench/partition_fuzz.py
(generator: tests/partition_fuzz.py)."""

from hypothesis import HealthCheck, given, settings

from partition_fuzz import check_graph, graphs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_graphs_partition_well_formed_with_every_call_once_and_the_same_values(graph):
    spec, excluded = graph
    check_graph(spec, excluded, compare_numbers=True)
