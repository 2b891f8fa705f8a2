"""cogtensor: hyperdimensional computing on CogRecords in SQL, and tensors on Arrow data."""

from cogtensor import _kernels, arrow, cogrecord, hdc, quant

__version__ = "0.1.0"
__all__ = ["arrow", "cogrecord", "hdc", "quant", "kernels_info", "get_num_threads", "set_num_threads"]


def kernels_info() -> dict:
    """Describe the kernel build in use.

    Returns:
        dict with ``isa`` (the instruction set the kernels run on, chosen at import
        from the CPU or ``COGTENSOR_ISA``), ``available`` (every ISA this CPU can
        run, best first) and ``num_threads`` (threads a large kernel call uses).

    Example:
        >>> info = cogtensor.kernels_info()
        >>> info["isa"] in info["available"]
        True
    """
    return {
        "isa": _kernels.isa(),
        "available": list(_kernels.available_isas()),
        "num_threads": _kernels.num_threads(),
    }


def get_num_threads() -> int:
    """Threads a large kernel call splits over (``COGTENSOR_NUM_THREADS`` or the core count)."""
    return _kernels.num_threads()


def set_num_threads(n: int) -> None:
    """Set the kernel thread count (as ``torch.set_num_threads``); must be >= 1."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {n!r}")
    _kernels.set_num_threads(n)
