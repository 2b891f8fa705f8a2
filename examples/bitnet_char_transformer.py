"""The character-level transformer of ``examples/char_transformer.py`` trained as a BitNet
b1.58 model (ternary weights, 8-bit activations) next to its float32 twin, then run from
2-bit packed weights with the ternary kernel and sampled with the key/value cache.

The BitNet model is the float model with every ``nn.Linear`` of the transformer blocks
(attention ``qkv`` and ``proj``, the feed-forward layers) replaced by ``nn.BitLinear``
(:func:`cogtensor.nn.bitnet.replace_linear_with_bitlinear`); as in BitNet, the embeddings,
LayerNorms and the output head stay in float. Both models start from the same weights and
see the same batches; the summary compares their training and validation losses, and the
validation loss of the packed ternary model (:func:`cogtensor.nn.bitnet.export_ternary`).

    python examples/bitnet_char_transformer.py               # full setting (1500 steps each)
    python examples/bitnet_char_transformer.py --steps 200   # quicker, higher losses

Example:
    >>> metrics = main(["--steps", "10", "--quiet"])
    >>> metrics["bitnet_train_loss"] < metrics["initial_loss"]
    True
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import cogtensor as ct
from cogtensor.nn.bitnet import export_ternary, replace_linear_with_bitlinear


def _sibling(name: str):
    """Import ``examples/<name>.py`` (the model, data and helpers live there)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


char = _sibling("char_transformer")
digits = _sibling("bitnet_digits")  # layer-by-layer comparison and weight bytes


def train(model, data: np.ndarray, args, lr: float, desc: str) -> dict:
    """AdamW with warm-up and cosine decay on random windows drawn from a generator seeded with
    ``args.seed``, so both models see the same batches. Returns the losses."""
    rng = np.random.default_rng(args.seed)
    optimizer = ct.optim.AdamW(model.parameters(), lr=lr, weight_decay=args.weight_decay)
    warmup = max(1, min(100, args.steps // 10))
    losses, start = [], time.perf_counter()
    progress = tqdm(range(args.steps), desc=desc, unit="step", disable=args.quiet)
    model.train()
    for step in progress:
        for group in optimizer.param_groups:
            group["lr"] = char.lr_at(step, args.steps, lr, warmup)
        loss = char.loss_on(model, *char.random_windows(data, args.context, args.batch_size, rng))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % 25 == 0 or step == args.steps - 1:
            progress.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    return {"initial_loss": losses[0], "train_loss": float(np.mean(losses[-50:])),
            "seconds": time.perf_counter() - start}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="BitNet b1.58 character transformer vs its float32 twin.")
    parser.add_argument("--text", type=Path, default=char.TEXT)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--bit-lr", type=float, default=None, help="BitLinear model's learning rate (default: --lr)")
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--sample-length", type=int, default=200)
    parser.add_argument("--prompt", default="The old man ")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="BLAS/kernel threads")
    parser.add_argument("--quiet", action="store_true", help="no progress bars, summary or sample")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    """Train both models, export the BitNet one to packed ternary weights, evaluate and sample."""
    args = parse_args(argv)
    ct.set_num_threads(args.threads)
    ct.manual_seed(args.seed)
    text = args.text.read_text(encoding="utf-8")
    vocab = char.Vocabulary(text)
    data = vocab.encode(text)
    split = int(0.9 * len(data))
    train_data, val_data = data[:split], data[split:]

    float_model = char.CharTransformer(len(vocab), args.context, args.d_model, args.heads, args.layers)
    bit_model = replace_linear_with_bitlinear(float_model, exclude={"head"})  # a copy: same initial weights
    float_run = train(float_model, train_data, args, args.lr, "float32")
    bit_run = train(bit_model, train_data, args, args.lr if args.bit_lr is None else args.bit_lr, "bitnet b1.58")
    packed = export_ternary(bit_model)
    probe = ct.tensor(val_data[:args.context][None])

    metrics = {
        "initial_loss": float_run["initial_loss"],
        "float_train_loss": float_run["train_loss"], "bitnet_train_loss": bit_run["train_loss"],
        "float_val_loss": char.evaluate(float_model, val_data, args.context),
        "bitnet_val_loss": char.evaluate(bit_model, val_data, args.context),
        "packed_val_loss": char.evaluate(packed, val_data, args.context),
        "layer_max_rel_diff": digits.layer_pairs_max_rel_diff(bit_model, packed, probe),
        "float_weight_bytes": digits.weight_bytes(float_model), "packed_weight_bytes": digits.weight_bytes(packed),
        "seconds": float_run["seconds"] + bit_run["seconds"], "steps": args.steps,
        "sample": char.sample(packed, vocab, args.prompt, args.sample_length, seed=args.seed),
    }
    if not args.quiet:
        print_summary(metrics)
    return metrics


def print_summary(m: dict) -> None:
    print(f"float32        train loss {m['float_train_loss']:.3f}  validation loss {m['float_val_loss']:.3f}"
          f"  linear weights {m['float_weight_bytes']:,} B")
    print(f"BitNet b1.58   train loss {m['bitnet_train_loss']:.3f}  validation loss {m['bitnet_val_loss']:.3f}")
    print(f"  packed       validation loss {m['packed_val_loss']:.3f}  linear weights {m['packed_weight_bytes']:,} B"
          f"  (per layer max rel diff {m['layer_max_rel_diff']:.1e})")
    print(f"--- sample from the packed model ---\n{m['sample']}")


if __name__ == "__main__":
    main()
