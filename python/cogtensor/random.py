"""Random number generation: a torch-style Generator over numpy's PCG64, and the
default generator that ``manual_seed`` reseeds."""

from __future__ import annotations

import numpy as np

__all__ = ["Generator", "manual_seed", "seed", "initial_seed", "default_generator"]


class Generator:
    """A seedable source of random numbers (``torch.Generator``).

    Example:
        >>> g = Generator().manual_seed(0)
        >>> cogtensor.rand(2, generator=g)  # the same two numbers on every run
    """

    def __init__(self):
        self._seed = int(np.random.SeedSequence().entropy) % (1 << 64)
        self._rng = np.random.Generator(np.random.PCG64(self._seed))

    def manual_seed(self, seed: int) -> Generator:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"manual_seed: expected an integer seed, got {type(seed).__name__}")
        self._seed = int(seed) % (1 << 64)
        self._rng = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def seed(self) -> int:
        """Reseed from fresh entropy; returns the new seed."""
        self.manual_seed(int(np.random.SeedSequence().entropy) % (1 << 64))
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        return self._rng.bit_generator.state

    def set_state(self, state: dict) -> Generator:
        self._rng.bit_generator.state = state
        return self

    @property
    def numpy(self) -> np.random.Generator:
        """The numpy generator behind this one."""
        return self._rng


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (``torch.manual_seed``); returns it."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def rng(generator: Generator | None) -> np.random.Generator:
    if generator is not None and not isinstance(generator, Generator):
        raise TypeError(f"generator must be a cogtensor.Generator, got {type(generator).__name__}")
    return (generator or default_generator).numpy
