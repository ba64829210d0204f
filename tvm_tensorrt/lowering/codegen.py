"""TVM's own BYOC flow: `relax.ext.tensorrt` (registered by `import tvm_tensorrt`, which calls
`codegen` here), the codegen `relax.transform.RunCodegen()` calls for the functions
`partition_for_tensorrt` marked `Codegen="tensorrt"`.

Each function becomes a C-source module that TVM compiles into the exported library:

* the serialised subgraph goes into the library's read-only data with the assembler's
  `.incbin`, so a subgraph of hundreds of MB costs a file copy, not a C array literal to parse;
* `__tvm_ffi_<global_symbol>`, which the VM calls with the inputs and the output buffers,
  forwards the call, with the blob's address and size in front, to the packed function
  `tvm_tensorrt.run_embedded` that `import tvm_tensorrt` registers (runtime/executor.py; names in formats/abi.py).

The blob files live in a temporary directory until this process exits: export the library
(`export_library`) in the process that compiled it, as TVM's flow does anyway.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import tvm

from ..backend import DEFAULT_TENSORRT_VERSION
from ..formats.abi import RUN_EMBEDDED
from tvm_tensorrt.partition.config import make_config
from .dispatch import function_config
from .serialize import serialize_function

_STUB = r"""
#include <stdint.h>
#include <stdlib.h>
#include <tvm/ffi/c_api.h>

__asm__(".section .rodata\n"
        ".balign 64\n"
        "tvm_tensorrt_blob_{symbol}:\n"
        ".incbin \"{path}\"\n"
        "tvm_tensorrt_blob_{symbol}_end:\n"
        ".previous\n");
extern const char tvm_tensorrt_blob_{symbol}[];
extern const char tvm_tensorrt_blob_{symbol}_end[];

#ifdef __cplusplus
extern "C" {{
#endif
TVM_FFI_DLL_EXPORT int __tvm_ffi_{symbol}(void* self, const TVMFFIAny* args, int32_t num_args,
                                        TVMFFIAny* result) {{
  TVMFFIObjectHandle fn = NULL;
  TVMFFIByteArray name = {{"{function}", {function_length}}};
  if (TVMFFIFunctionGetGlobal(&name, &fn) != 0) return -1;
  if (fn == NULL) {{
    TVMFFIErrorSetRaisedFromCStr("RuntimeError",
        "{function} is not registered: import tvm_tensorrt before running this library");
    return -1;
  }}
  TVMFFIAny* forwarded = (TVMFFIAny*)malloc(sizeof(TVMFFIAny) * (num_args + 2));
  forwarded[0].type_index = kTVMFFIInt;
  forwarded[0].zero_padding = 0;
  forwarded[0].v_int64 = (int64_t)(intptr_t)tvm_tensorrt_blob_{symbol};
  forwarded[1].type_index = kTVMFFIInt;
  forwarded[1].zero_padding = 0;
  forwarded[1].v_int64 = (int64_t)(tvm_tensorrt_blob_{symbol}_end - tvm_tensorrt_blob_{symbol});
  for (int32_t i = 0; i < num_args; ++i) forwarded[i + 2] = args[i];
  int rc = TVMFFIFunctionCall(fn, forwarded, num_args + 2, result);
  free(forwarded);
  TVMFFIObjectDecRef(fn);
  return rc;
}}
#ifdef __cplusplus
}}
#endif
"""

_BLOB_DIR = None


def _blob_dir() -> str:
    global _BLOB_DIR
    if _BLOB_DIR is None:
        _BLOB_DIR = tempfile.mkdtemp(prefix="tvm_tensorrt_blobs_")
        atexit.register(shutil.rmtree, _BLOB_DIR, True)
    return _BLOB_DIR


def c_source_module(func, symbol: str, config: dict):
    """The C-source module for one offloaded function."""
    path = os.path.join(_blob_dir(), f"{symbol}_{os.getpid()}_{id(func)}.bin")
    with open(path, "wb") as f:
        f.write(serialize_function(func, symbol, config))
    code = _STUB.format(symbol=symbol, path=path, function=RUN_EMBEDDED, function_length=len(RUN_EMBEDDED))
    return tvm.get_global_func("runtime.CSourceModuleCreate")(code, "c", [symbol], [])


def codegen(functions, options, constant_names):
    """RunCodegen's callback: one C-source module per function marked Codegen="tensorrt"."""
    modules = []
    for func in functions:
        modules.append(c_source_module(func, str(func.attrs["global_symbol"]), function_config(func) or make_config(DEFAULT_TENSORRT_VERSION)))
    return modules

