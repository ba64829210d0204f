"""Serving on Triton Inference Server: the real tritonserver binary (nvidia-pytriton, the [serve]
extra) on loopback, real clients (tritonclient), against what load(LIB).run() gives.

One library for the module: the bundled CNN with a symbolic batch (its ONNX batch dim renamed
`batch`), compiled with the profile batch=1:8:32, so Triton batches requests within it.
"""

import concurrent.futures
import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import onnx
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

import tvm_tensorrt
from tvm_tensorrt.models import DEFAULT_MODEL
from tvm_tensorrt.triton.server import _backend_folder, free_ports, server_environment, site_dirs, triton_dist

CLIENTS = 32
CLI = [sys.executable, "-m", "tvm_tensorrt.cli"]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    from tvm_tensorrt.cli import compile_model

    folder = tmp_path_factory.mktemp("serving")
    model = onnx.load(DEFAULT_MODEL)
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.save(model, folder / "cnn_batch.onnx")
    path = str(folder / "cnn.so")
    compile_model(str(folder / "cnn_batch.onnx"), path, options={"dim_ranges": {"batch": (1, 8, 32)}},
                  out=io.StringIO())
    return path


@pytest.fixture(scope="module")
def reference(library):
    return tvm_tensorrt.load(library)


@pytest.fixture(scope="module")
def server(library):
    http, grpc, metrics = free_ports()
    # a 20 ms window: 32 clients at once on 2 CPU cores are batched whatever the machine's load
    with tvm_tensorrt.serve(library, name="cnn", http_port=http, grpc_port=grpc, metrics_port=metrics,
                            max_queue_delay_us=20000, block=False) as running:
        yield running


def infer(protocol, url, x, output="output_0", model="cnn", client=None):
    module = httpclient if protocol == "http" else grpcclient
    client = client or module.InferenceServerClient(url)
    tensor = module.InferInput("image", list(x.shape), {np.float32: "FP32", np.float64: "FP64"}[x.dtype.type])
    tensor.set_data_from_numpy(x)
    return client.infer(model, [tensor]).as_numpy(output)


def batches_formed(server) -> dict:
    """{batch size: executions} from Triton's statistics (the Python backend reports each batch)."""
    stats = grpcclient.InferenceServerClient(server.grpc_url).get_inference_statistics("cnn").model_stats[0]
    return {s.batch_size: s.compute_infer.count for s in stats.batch_stats}


def test_config_from_the_library(server):
    text = open(server.config_path).read()
    assert "max_batch_size: 32" in text and "dims: [ 3, 32, 32 ]" in text and "dims: [ 10 ]" in text
    assert "preferred_batch_size: [ 8, 32 ]" in text and "kind: KIND_CPU" in text


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_32_concurrent_clients_get_what_load_run_gives_and_triton_batches(server, reference, protocol):
    rng = np.random.default_rng(7)
    inputs = [rng.standard_normal((1 + i % 2, 3, 32, 32)).astype(np.float32) for i in range(CLIENTS)]
    url = server.url if protocol == "http" else server.grpc_url
    before = batches_formed(server)
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(lambda x: infer(protocol, url, x), inputs))
    for x, answer in zip(inputs, answers):
        np.testing.assert_allclose(answer, reference.run(x)[0], rtol=1e-5, atol=1e-6)
    formed = {size: count - before.get(size, 0) for size, count in batches_formed(server).items()}
    assert sum(size * count for size, count in formed.items()) == sum(len(x) for x in inputs)
    assert max(size for size, count in formed.items() if count) > 2  # requests of 1 and 2 were batched together


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_bad_requests_are_answered_and_the_server_keeps_serving(server, reference, protocol):
    url = server.url if protocol == "http" else server.grpc_url
    error = httpclient.InferenceServerException if protocol == "http" else grpcclient.InferenceServerException
    with pytest.raises(error, match=r"input 'image' for model 'cnn'. Expected \[-1,3,32,32\], got \[1,3,32,31\]"):
        infer(protocol, url, np.zeros((1, 3, 32, 31), np.float32))
    with pytest.raises(error, match=r"input 'image' data-type is 'FP64', but model 'cnn' expects 'FP32'"):
        infer(protocol, url, np.zeros((1, 3, 32, 32), np.float64))
    with pytest.raises(error, match="batch-size must be <= 32 for 'cnn'"):
        infer(protocol, url, np.zeros((33, 3, 32, 32), np.float32))
    x = np.ones((2, 3, 32, 32), np.float32)
    np.testing.assert_allclose(infer(protocol, url, x), reference.run(x)[0], rtol=1e-5, atol=1e-6)


def _ready(url, model="cnn"):
    try:
        with urllib.request.urlopen(f"http://{url}/v2/models/{model}/ready", timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


def test_cli_serve_stops_on_sigterm_within_10_s(library, reference):
    http, grpc, metrics = free_ports()
    proc = subprocess.Popen([*CLI, "serve", library, "--name", "cnn", "--http-port", str(http), "--grpc-port",
                             str(grpc), "--metrics-port", str(metrics)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        first = proc.stdout.readline()  # printed once the model answers readiness
        assert first.startswith(f"Serving cnn on http://127.0.0.1:{http} "), first + proc.stderr.read()
        x = np.full((1, 3, 32, 32), 0.5, np.float32)
        np.testing.assert_allclose(infer("http", f"127.0.0.1:{http}", x), reference.run(x)[0], rtol=1e-5, atol=1e-6)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert time.monotonic() - start < 10
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out == "Stopped cnn\n"
    with socket.socket() as s:  # tritonserver is gone with it: nothing listens on the port (TIME_WAIT may stay)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", http))
        s.listen()


def test_cli_refuses_a_batch_above_the_profile(library, tmp_path):
    proc = subprocess.run([*CLI, "export-triton", library, str(tmp_path / "repo"), "--max-batch-size", "64"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("tvm-tensorrt: error: --max-batch-size 64 is above the engine profile's maximum 32 "
                                   "for batch (compiled with --dim batch=1:8:32); pass at most 32, or compile with a "
                                   "larger --dim batch range")
    assert not (tmp_path / "repo" / "cnn").exists()


def test_exported_repository_loads_in_tritonserver_and_answers(library, reference, tmp_path):
    repo = tmp_path / "repo"
    proc = subprocess.run([*CLI, "export-triton", library, str(repo), "--name", "gpu_cnn"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "kind: KIND_GPU" in (repo / "gpu_cnn" / "config.pbtxt").read_text()  # the production default
    # this machine has no GPU: the same export with CPU instances, served by the bare binary
    site_flags = [flag for d in site_dirs() for flag in ("--site-packages", d)]
    proc = subprocess.run([*CLI, "export-triton", library, str(tmp_path / "cpu_repo"), "--name", "cnn",
                           "--instance-kind", "cpu", *site_flags], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(tmp_path / "cpu_repo" / "cnn" / "1")) == ["library.so", "model.py"]
    dist = triton_dist()
    http, grpc, metrics = free_ports()
    binary = os.path.join(dist, "bin", "tritonserver")
    server = subprocess.Popen([binary, f"--model-repository={tmp_path / 'cpu_repo'}",
                               f"--backend-directory={_backend_folder(dist, str(tmp_path / 'backend'))}",
                               "--http-address=127.0.0.1", f"--http-port={http}", "--grpc-address=127.0.0.1",
                               f"--grpc-port={grpc}", "--metrics-address=127.0.0.1", f"--metrics-port={metrics}",
                               "--exit-timeout-secs=5"], env=server_environment(dist),
                              stdout=open(tmp_path / "log", "w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not _ready(f"127.0.0.1:{http}") and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert server.poll() is None, (tmp_path / "log").read_text()[-3000:]
        x = np.random.default_rng(1).standard_normal((4, 3, 32, 32)).astype(np.float32)
        np.testing.assert_allclose(infer("grpc", f"127.0.0.1:{grpc}", x), reference.run(x)[0], rtol=1e-5, atol=1e-6)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(15)


def two_in_two_out_model():
    """main(x: (n, 4), y: (n, 4)) -> (x + y, x * y): no configured profile, a tuple of outputs."""
    from tvm import relax
    from tvm.ir.prim.expr import Var as SizeVar

    n = SizeVar("n", "int64")
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((n, 4), "float32"))
    y = relax.Var("y", relax.TensorType((n, 4), "float32"))
    with bb.function("main", [x, y]):
        with bb.dataflow():
            out = bb.emit_output(relax.Tuple([bb.emit(relax.op.add(x, y)), bb.emit(relax.op.multiply(x, y))]))
        bb.emit_func_output(out)
    return bb.get()


def test_two_inputs_and_a_tuple_of_outputs_are_served_with_two_instances(tmp_path):
    from tvm_tensorrt.triton import read_signature

    partitioned, config = tvm_tensorrt.partition_for_tensorrt(two_in_two_out_model())
    path = str(tmp_path / "two.so")
    tvm_tensorrt.build(partitioned, config=config).export_library(path)
    signature = read_signature(path)
    assert [(t.name, t.dims, t.triton_type) for t in signature.inputs + signature.outputs] == [
        ("x", ("n", 4), "FP32"), ("y", ("n", 4), "FP32"), ("output_0", ("n", 4), "FP32"), ("output_1", ("n", 4), "FP32")]
    assert signature.batch == "n" and signature.batch_limit(None) == 8  # no --dim n=...: the default
    http, grpc, metrics = free_ports()
    rng = np.random.default_rng(3)
    pairs = [(rng.standard_normal((1 + i % 3, 4)).astype(np.float32),
              rng.standard_normal((1 + i % 3, 4)).astype(np.float32)) for i in range(16)]

    def ask(pair):
        client = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc}")
        tensors = [grpcclient.InferInput(name, list(a.shape), "FP32") for name, a in zip("xy", pair)]
        for tensor, a in zip(tensors, pair):
            tensor.set_data_from_numpy(a)
        answer = client.infer("two", tensors)
        return answer.as_numpy("output_0"), answer.as_numpy("output_1")

    with tvm_tensorrt.serve(path, http_port=http, grpc_port=grpc, metrics_port=metrics, instances=2,
                            max_queue_delay_us=20000, block=False) as server:
        assert "instance_group [ { count: 2 kind: KIND_CPU } ]" in open(server.config_path).read()
        with concurrent.futures.ThreadPoolExecutor(len(pairs)) as pool:
            answers = list(pool.map(ask, pairs))
    for (x, y), (total, product) in zip(pairs, answers):
        np.testing.assert_array_equal(total, x + y)
        np.testing.assert_array_equal(product, x * y)


def test_a_fixed_batch_is_served_whole(tmp_path):
    from tvm_tensorrt.cli import compile_model
    from tvm_tensorrt.triton import export_triton

    path = str(tmp_path / "fixed.so")
    compile_model(DEFAULT_MODEL, path, out=io.StringIO())  # the bundled CNN as it is: batch 1
    config = open(os.path.join(export_triton(path, str(tmp_path / "repo")), "config.pbtxt")).read()
    assert "max_batch_size: 0" in config and "dynamic_batching" not in config
    assert "dims: [ 1, 3, 32, 32 ]" in config and "dims: [ 1, 10 ]" in config  # the output's from one run
    with pytest.raises(tvm_tensorrt.ConfigError, match=r"max_batch_size=4: the library takes a fixed batch "
                                                       r"\(image \[1, 3, 32, 32\]\)"):
        export_triton(path, str(tmp_path / "other"), max_batch_size=4)
