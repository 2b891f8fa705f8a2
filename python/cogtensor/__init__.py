"""cogtensor: hyperdimensional computing on CogRecords in SQL, and tensors on Arrow data."""

from cogtensor import _kernels

__version__ = "0.1.0"


def kernels_info() -> dict:
    """Describe the kernel build in use.

    Returns:
        dict with ``isa`` (the instruction set the kernels run on, chosen at import
        from the CPU or ``COGTENSOR_ISA``), ``available`` (every ISA this CPU can
        run, best first) and ``num_threads`` (threads a large kernel call uses,
        ``COGTENSOR_NUM_THREADS`` or the core count).

    Example:
        >>> cogtensor.kernels_info()["isa"] in cogtensor.kernels_info()["available"]
        True
    """
    return {
        "isa": _kernels.isa(),
        "available": list(_kernels.available_isas()),
        "num_threads": _kernels.num_threads(),
    }
