"""ISA dispatch and thread settings, including the environment variables (fresh processes)."""

import json
import subprocess
import sys

import numpy as np
import pytest

import cogtensor
from cogtensor import _kernels


def run_info(env_extra):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("COGTENSOR_")}
    env.update(env_extra)
    code = "import json, cogtensor; print(json.dumps(cogtensor.kernels_info()))"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_kernels_info_reports_the_active_isa():
    info = cogtensor.kernels_info()
    assert info["isa"] in info["available"]
    assert info["available"][-1] == "scalar"
    assert info["num_threads"] >= 1


def test_default_isa_is_the_best_available():
    out = run_info({})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["isa"] == _kernels.available_isas()[0]


@pytest.mark.parametrize("isa", list(_kernels.available_isas()))
def test_cogtensor_isa_env_forces_a_path(isa):
    out = run_info({"COGTENSOR_ISA": isa})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["isa"] == isa


def test_unknown_or_missing_isa_fails_clearly():
    out = run_info({"COGTENSOR_ISA": "sse9"})
    assert out.returncode != 0 and "unknown ISA 'sse9'" in out.stderr
    missing = [i for i in ("avx512", "avx2") if i not in _kernels.available_isas()]
    for isa in missing:
        out = run_info({"COGTENSOR_ISA": isa})
        assert out.returncode != 0 and "not supported by this CPU" in out.stderr


def test_num_threads_env_and_setter():
    out = run_info({"COGTENSOR_NUM_THREADS": "3"})
    assert json.loads(out.stdout)["num_threads"] == 3
    out = run_info({"COGTENSOR_NUM_THREADS": "zero"})
    assert out.returncode != 0 and "COGTENSOR_NUM_THREADS" in out.stderr
    before = cogtensor.get_num_threads()
    try:
        cogtensor.set_num_threads(5)
        assert cogtensor.get_num_threads() == 5 == cogtensor.kernels_info()["num_threads"]
    finally:
        cogtensor.set_num_threads(before)
    with pytest.raises(ValueError, match="positive integer"):
        cogtensor.set_num_threads(0)
    with pytest.raises(ValueError, match="at most 65536"):
        cogtensor.set_num_threads(2**64)
    try:
        cogtensor.set_num_threads(np.int64(3))  # numpy integers are integers
        assert cogtensor.get_num_threads() == 3
    finally:
        cogtensor.set_num_threads(before)


def test_set_isa_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown ISA"):
        _kernels.set_isa("mmx")


def test_threads_the_system_refuses_do_not_crash():
    # 1250 threads of 8 MB stacks cannot fit under a 256 MB address-space limit:
    # thread creation fails and the remaining chunks run on the calling thread
    code = """
import resource
import numpy as np
import cogtensor
from cogtensor import hdc
a = np.arange(20000 * 8, dtype=np.uint8).reshape(20000, 8)
vm = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (vm + (256 << 20), resource.RLIM_INFINITY))
cogtensor.set_num_threads(4096)
print(int(hdc.hamming_matrix(a, a[:1]).sum()), int(hdc.popcount(a).sum()))
"""
    if not sys.platform.startswith("linux"):
        pytest.skip("uses /proc and RLIMIT_AS")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    a = np.arange(20000 * 8, dtype=np.uint8).reshape(20000, 8)
    expect = np.bitwise_count(a ^ a[:1]).sum(), np.bitwise_count(a).sum()
    assert out.stdout.split() == [str(int(v)) for v in expect]


def test_num_threads_env_out_of_range_is_an_error():
    out = run_info({"COGTENSOR_NUM_THREADS": "99999999999999999999"})
    assert out.returncode != 0 and "COGTENSOR_NUM_THREADS" in out.stderr
