"""Requests per second through Triton (tvm-tensorrt serve) beside load(LIB).run() in a loop, and
the batch sizes Triton's dynamic batcher formed.

    python bench/serve_throughput.py                       # bundled CNN, batch=1:8:32, 5 s a row
    python bench/serve_throughput.py --library my.so --seconds 10 --protocol http

Without --library the bundled CNN is compiled with a symbolic batch (its ONNX batch dim named
`batch`, profile 1:8:32), as docs/serving.md describes. Every request carries one sample. The
in-process row calls run() on one sample at a time from one thread: what a client gets without
a server. Each server row runs CONCURRENCY client threads (one client each) for --seconds; the
batch sizes come from Triton's statistics before and after the row.
"""

import argparse
import concurrent.futures
import io
import os
import tempfile
import time

import numpy as np
import onnx

import tvm_tensorrt
from tvm_tensorrt.models import DEFAULT_MODEL
from tvm_tensorrt.triton.server import free_ports


def batch_cnn(folder: str) -> str:
    from tvm_tensorrt.cli import compile_model

    model = onnx.load(DEFAULT_MODEL)
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.save(model, os.path.join(folder, "cnn_batch.onnx"))
    path = os.path.join(folder, "cnn.so")
    compile_model(os.path.join(folder, "cnn_batch.onnx"), path, options={"dim_ranges": {"batch": (1, 8, 32)}},
                  out=io.StringIO())
    return path


def batches(server) -> dict:
    import tritonclient.grpc as grpcclient

    stats = grpcclient.InferenceServerClient(server.grpc_url).get_inference_statistics(server.name).model_stats[0]
    return {s.batch_size: s.compute_infer.count for s in stats.batch_stats}


def client_loop(server, sample, protocol: str, until: float) -> int:
    if protocol == "grpc":
        import tritonclient.grpc as module
        client = module.InferenceServerClient(server.grpc_url)
    else:
        import tritonclient.http as module
        client = module.InferenceServerClient(server.url)
    spec = server.signature.inputs[0]
    tensor = module.InferInput(spec.name, list(sample.shape), spec.triton_type)
    tensor.set_data_from_numpy(sample)
    done = 0
    while time.perf_counter() < until:
        client.infer(server.name, [tensor])
        done += 1
    return done


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", help="a compiled library with one input (default: the bundled CNN, batch 1:8:32)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each row")
    parser.add_argument("--protocol", choices=["grpc", "http"], default="grpc")
    parser.add_argument("--max-queue-delay-us", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        library = args.library or batch_cnn(tmp)
        model = tvm_tensorrt.load(library)
        http, grpc, metrics = free_ports()
        with tvm_tensorrt.serve(library, http_port=http, grpc_port=grpc, metrics_port=metrics, block=False,
                                max_queue_delay_us=args.max_queue_delay_us, instances=args.instances) as server:
            signature = server.signature
            if len(signature.inputs) != 1:
                raise SystemExit("this bench sends one input; the library takes " + str(len(signature.inputs)))
            [sample] = signature.sample_inputs(batch=1)
            sample = np.random.default_rng(0).standard_normal(sample.shape).astype(sample.dtype)
            model.run(sample)  # engines built before the clock starts
            until, calls = time.perf_counter() + args.seconds, 0
            while time.perf_counter() < until:
                model.run(sample)
                calls += 1
            rows = [("load(LIB).run(), 1 thread", calls / args.seconds, "-")]
            for concurrency in (1, 8, 32):
                before = batches(server)
                until = time.perf_counter() + args.seconds
                with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
                    done = sum(pool.map(lambda _: client_loop(server, sample, args.protocol, until),
                                        range(concurrency)))
                formed = {size: count - before.get(size, 0) for size, count in batches(server).items()}
                executions = sum(formed.values())
                mean = sum(size * count for size, count in formed.items()) / max(executions, 1)
                largest = max(size for size, count in formed.items() if count)
                shown = f"{executions} executions, mean batch {mean:.1f}, largest {largest}"
                rows.append((f"Triton {args.protocol}, {concurrency} clients", done / args.seconds, shown))
    print(f"{os.path.basename(library)}: max_batch_size {signature.batch_limit(None)}, preferred "
          f"{signature.preferred_sizes(signature.batch_limit(None))}, queue delay {args.max_queue_delay_us} us, "
          f"{args.instances} instance(s)")
    print(f"{'':34} {'req/s':>8}  batches Triton formed")
    for name, rate, shown in rows:
        print(f"{name:34} {rate:8.1f}  {shown}")


if __name__ == "__main__":
    main()
