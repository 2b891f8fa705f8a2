"""Training-step time: cogtensor vs PyTorch (CPU), same data, same initial weights, same threads, one run.

A step is ``zero_grad``, forward, loss, backward and the optimizer step.

1. MLP 784-256-128-10 (``nn.Linear`` + ``nn.ReLU``), batch 128, ``cross_entropy``, Adam(lr=1e-3).
2. Tiny transformer: token + learned position ``nn.Embedding`` (vocab 96, d_model 128), a
   ``TransformerEncoder`` of 2 pre-norm ``TransformerEncoderLayer`` (4 heads, feed-forward 512,
   ReLU, no dropout, batch_first, causal mask), a final LayerNorm and a linear head; batch 32,
   sequence 64, ``cross_entropy`` over the next token, AdamW(lr=1e-3).

Both models are written once against the ``nn`` namespace and built from each library; the
PyTorch model's initial ``state_dict`` is loaded into ours. Both libraries get the same
thread count (``torch.set_num_threads``; ours: ``cogtensor.set_num_threads`` plus numpy's
BLAS pool through threadpoolctl). Prints ms per step, the ratio ours/torch (< 1: cogtensor is
faster), the largest loss difference over the timed steps, and the time per phase (forward
+ loss, backward, optimizer step) of each library.

    python benches/bench_train.py               # full
    python benches/bench_train.py --quick       # fewer repeats
    python benches/bench_train.py --profile     # also: our time per backward node, per module
                                                #   forward, the cProfile top functions, and the
                                                #   transformer's operations one by one vs torch
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import machine
from threadpoolctl import threadpool_limits
from train_profile import breakdown, cprofile_top, op_table

import cogtensor as ct

THREADS = 2
VOCAB, D_MODEL, HEADS, LAYERS, SEQ = 96, 128, 4, 2, 64


def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))


def tiny_transformer(lib):
    """The same decoder-style transformer in either library (``lib`` is torch or cogtensor)."""
    nn = lib.nn

    class TinyTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.token = nn.Embedding(VOCAB, D_MODEL)
            self.position = nn.Embedding(SEQ, D_MODEL)
            layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, dim_feedforward=4 * D_MODEL, dropout=0.0,
                                               batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, LAYERS, norm=nn.LayerNorm(D_MODEL),
                                                 enable_nested_tensor=False)
            self.head = nn.Linear(D_MODEL, VOCAB)

        def forward(self, ids, positions, mask):
            x = self.token(ids) + self.position(positions)
            return self.head(self.encoder(x, mask=mask, is_causal=True))

    return TinyTransformer()


class Side:
    """One library's model, optimizer, batches (cycled) and loss: ``step()`` runs a training step."""

    def __init__(self, lib, model, optimizer, batches, loss_fn):
        self.lib, self.model, self.optimizer, self.batches, self.loss_fn = lib, model, optimizer, batches, loss_fn
        self.i = 0

    def _next(self):
        inputs = self.batches[self.i % len(self.batches)]
        self.i += 1
        return inputs

    def step(self) -> float:
        inputs = self._next()
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model, *inputs)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def phase_step(self, times: np.ndarray) -> float:
        """A step whose phases (forward + loss, backward, optimizer step) add into ``times``."""
        inputs = self._next()
        self.optimizer.zero_grad()
        t0 = time.perf_counter()
        loss = self.loss_fn(self.model, *inputs)
        value = loss.item()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        self.optimizer.step()
        times += (t1 - t0, t2 - t1, time.perf_counter() - t2)
        return value


def twins(build):
    """(ours, theirs): the PyTorch model and a cogtensor copy with the same weights."""
    torch.manual_seed(0)
    theirs = build(torch)
    ours = build(ct)
    ours.load_state_dict({k: ct.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    return ours, theirs


def mlp_case() -> dict:
    rng = np.random.default_rng(0)
    data = [(rng.standard_normal((128, 784)).astype(np.float32), rng.integers(0, 10, 128)) for _ in range(8)]
    models = twins(mlp)

    def side(lib, model, optimizer):
        batches = [(lib.tensor(x), lib.tensor(y)) for x, y in data]
        return Side(lib, model, optimizer(model.parameters(), lr=1e-3), batches,
                    lambda m, x, y: lib.nn.functional.cross_entropy(m(x), y))

    return {"name": "MLP 784-256-128-10, batch 128, Adam", "loops": 50, "target": 1.0,
            "ours": side(ct, models[0], ct.optim.Adam), "theirs": side(torch, models[1], torch.optim.Adam)}


def transformer_case() -> dict:
    rng = np.random.default_rng(0)
    tokens = [rng.integers(0, VOCAB, (32, SEQ + 1)) for _ in range(4)]
    mask = np.triu(np.full((SEQ, SEQ), -np.inf, dtype=np.float32), 1)
    models = twins(tiny_transformer)

    def side(lib, model, optimizer):
        positions, causal = lib.arange(SEQ), lib.tensor(mask)
        batches = [(lib.tensor(t[:, :-1]), lib.tensor(t[:, 1:]), positions, causal) for t in tokens]

        def loss_fn(m, ids, targets, positions, causal):
            logits = m(ids, positions, causal)
            return lib.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))

        return Side(lib, model, optimizer(model.parameters(), lr=1e-3), batches, loss_fn)

    return {"name": f"transformer {LAYERS} layers, d_model {D_MODEL}, {HEADS} heads, seq {SEQ}, batch 32, AdamW",
            "loops": 10, "target": 1.5,
            "ours": side(ct, models[0], ct.optim.AdamW), "theirs": side(torch, models[1], torch.optim.AdamW)}


def timed_loop(step, loops: int):
    """(mean seconds per call over ``loops`` calls of ``step``, their results)."""
    t0 = time.perf_counter()
    results = [step() for _ in range(loops)]
    return (time.perf_counter() - t0) / loops, results


def interleaved_best(ours, theirs, loops: int, repeats: int):
    """Best mean ms per call of ``ours`` and ``theirs``, taking turns each round (so a busy moment on a
    shared machine slows both alike), after one warm-up call each; and every result of each."""
    results = ([ours()], [theirs()])
    best = [np.inf, np.inf]
    for _ in range(repeats):
        for i, fn in enumerate((ours, theirs)):
            seconds, out = timed_loop(fn, loops)
            best[i] = min(best[i], seconds)
            results[i].extend(out)
    return best[0] * 1e3, best[1] * 1e3, results


def phases_ms(side: Side, loops: int) -> np.ndarray:
    """Mean ms per step of each phase (forward + loss, backward, optimizer step) over ``loops`` steps."""
    times = np.zeros(3)
    for _ in range(loops):
        side.phase_step(times)
    return times / loops * 1e3


def run(case: dict, repeats: int) -> None:
    ours, theirs, loops = case["ours"], case["theirs"], case["loops"]
    # both take the same batches in the same order from the same weights: their losses must agree
    ours_ms, theirs_ms, (ours_losses, theirs_losses) = interleaved_best(ours.step, theirs.step, loops, repeats)
    gap = max(abs(a - b) for a, b in zip(ours_losses, theirs_losses))
    print(f"\n{case['name']}, ms per step")
    print(f"{'':24}{'cogtensor':>12}{'torch':>12}{'ours/torch':>12}{'target':>10}")
    target = "<= " + format(case["target"], ".1f")
    print(f"{'step':24}{ours_ms:12.2f}{theirs_ms:12.2f}{ours_ms / theirs_ms:12.2f}{target:>10}"
          f"   (max |loss diff| over {len(ours_losses)} steps: {gap:.1e})")
    best = [np.full(3, np.inf), np.full(3, np.inf)]
    for _ in range(repeats):
        for i, side in enumerate((ours, theirs)):
            best[i] = np.minimum(best[i], phases_ms(side, loops))
    for label, a, b in zip(("forward + loss", "backward", "optimizer step"), *best):
        print(f"{label:24}{a:12.2f}{b:12.2f}{a / b:12.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true", help="also break our step down by node and module")
    parser.add_argument("--threads", type=int, default=THREADS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ct.set_num_threads(args.threads)
    threadpool_limits(limits=args.threads, user_api="blas")  # numpy's BLAS runs our matrix products
    print(machine(args.threads) | {"torch": torch.__version__})
    repeats = 3 if args.quick else 10
    cases = [mlp_case(), transformer_case()]
    for case in cases:
        run(case, repeats)
    if args.profile:
        for case in cases:
            breakdown(case["name"], case["ours"], 2 * case["loops"])
            cprofile_top(case["name"], case["ours"].step, 2 * case["loops"], 20)
        op_table(ct, torch)


if __name__ == "__main__":
    main()
