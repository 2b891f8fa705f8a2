import pytest

from cogtensor import _kernels


@pytest.fixture(params=list(_kernels.available_isas()))
def isa(request):
    """Runs a test once per instruction set this CPU supports (scalar always)."""
    previous = _kernels.isa()
    _kernels.set_isa(request.param)
    yield request.param
    _kernels.set_isa(previous)


@pytest.fixture(params=[1, 2])
def threads(request):
    """Runs a test single-threaded and split over two threads."""
    previous = _kernels.num_threads()
    _kernels.set_num_threads(request.param)
    yield request.param
    _kernels.set_num_threads(previous)
