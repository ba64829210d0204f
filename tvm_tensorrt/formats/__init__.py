"""What a compiled library carries, as data: the serialised subgraph, the prebuilt-plan
container, symbolic dimensions, and the names of the packed functions a library calls. Both
sides read these: compile-time lowering writes them, the runtime reads them."""
