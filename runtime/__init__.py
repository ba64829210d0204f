"""Runtime: backend discovery, the serialised subgraph format, engine building and execution."""
