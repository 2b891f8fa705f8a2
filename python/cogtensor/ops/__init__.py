"""Tensor operations, grouped by family; each module adds methods to Tensor."""
