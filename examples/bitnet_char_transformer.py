"""The character-level transformer of ``examples/char_transformer.py`` trained as a BitNet
b1.58 model (ternary weights, 8-bit activations) next to its float32 twin, then run from
2-bit packed weights with the ternary kernel and sampled with the key/value cache.

The BitNet model is the float model with every ``nn.Linear`` of the transformer blocks
(attention ``qkv`` and ``proj``, the feed-forward layers) replaced by ``nn.BitLinear``
(:func:`cogtensor.nn.bitnet.replace_linear_with_bitlinear`); as in BitNet, the embeddings,
LayerNorms and the output head stay in float. Both models start from the same weights and
see the same batches; the summary compares their training and validation losses, and the
validation loss of the packed ternary model (:func:`cogtensor.nn.bitnet.export_ternary`).

    python examples/bitnet_char_transformer.py               # full setting (char_transformer's, 1000 steps each)
    python examples/bitnet_char_transformer.py --steps 200   # quicker, higher losses

Example:
    >>> metrics = main(["--steps", "10", "--quiet"])
    >>> metrics["bitnet_train_loss"] < metrics["initial_loss"]
    True
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

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


def parse_args(argv=None):
    """The options of ``examples/char_transformer.py`` (same defaults), plus ``--bit-lr``."""
    parser = char.build_parser("BitNet b1.58 character transformer vs its float32 twin.")
    parser.add_argument("--bit-lr", type=float, default=None, help="BitLinear model's learning rate (default: --lr)")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    """Train both models, export the BitNet one to packed ternary weights, evaluate and sample."""
    args = parse_args(argv)
    with char.thread_limit(args.threads):
        return compare(args)


def compare(args) -> dict:
    """Train the float32 and BitNet twins with the options ``args``, export, evaluate and sample."""
    ct.manual_seed(args.seed)
    vocab, train_data, val_data = char.split_text(args.text)
    float_model = char.CharTransformer(len(vocab), args.context, args.d_model, args.heads, args.layers, args.dropout)
    bit_model = replace_linear_with_bitlinear(float_model, exclude={"head"})  # a copy: same initial weights
    float_run = char.fit(float_model, train_data, args, args.lr, "float32")
    bit_run = char.fit(bit_model, train_data, args, args.lr if args.bit_lr is None else args.bit_lr, "bitnet b1.58")
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
