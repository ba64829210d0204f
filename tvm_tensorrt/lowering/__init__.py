"""Compile-time lowering: offloaded Relax functions -> serialised subgraphs inside a library
(tvm_tensorrt.build's dispatch, and relax.ext.tensorrt for TVM's RunCodegen). The only code
besides the partitioner that reads Relax; the runtime reads what it writes."""
