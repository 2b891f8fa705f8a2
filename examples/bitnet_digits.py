"""Train a BitNet b1.58 MLP (ternary weights, 8-bit activations) on scikit-learn's digits,
next to its float32 twin, then run it from 2-bit packed weights with the ternary kernel.

Steps:

1. Build the float MLP of ``examples/mlp_digits.py`` (64-256-128-10, ReLU, dropout) and a
   copy with every ``nn.Linear`` replaced by ``nn.BitLinear``
   (:func:`cogtensor.nn.bitnet.replace_linear_with_bitlinear`): same architecture, same
   initial weights, same data order.
2. Train both with AdamW and a cosine schedule; the BitLinear model learns its latent float
   weights through the straight-through estimator; both use the same hyper-parameters
   (``--bit-lr`` sets the BitLinear model's learning rate apart).
3. Export the BitLinear model to packed ternary weights
   (:func:`cogtensor.nn.bitnet.export_ternary`) and check that its logits and predictions
   match the fake-quantized model's on the test set.
4. Quantize the float model dynamically to int8 (:func:`cogtensor.nn.quantized.quantize_dynamic`)
   and compare its test accuracy with float32.

    python examples/bitnet_digits.py               # full setting
    python examples/bitnet_digits.py --epochs 5    # quicker, lower accuracy

Example:
    >>> metrics = main(["--epochs", "2", "--quiet"])
    >>> metrics["packed_agreement"]
    1.0
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits  # installed with scikit-learn

import cogtensor as ct
from cogtensor import nn
from cogtensor.nn.bitnet import BitLinear, export_ternary, replace_linear_with_bitlinear
from cogtensor.nn.quantized import quantize_dynamic


def _sibling(name: str):
    """Import ``examples/<name>.py`` (the float MLP and its data live there)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


mlp_digits = _sibling("mlp_digits")


def logits(model, x) -> np.ndarray:
    model.eval()
    with ct.no_grad():
        return model(x).numpy()


def weight_bytes(model) -> int:
    """Bytes of the weights a model keeps for inference (packed, int8 or float)."""
    total = 0
    for module in model.modules():
        if hasattr(module, "weight_nbytes"):
            total += module.weight_nbytes()
        elif isinstance(module, nn.Linear):
            total += module.weight.numpy().nbytes
        elif hasattr(module, "qweight"):
            total += module.qweight.numpy().nbytes + module.weight_scale.numpy().nbytes
    return total


def layer_pairs_max_rel_diff(bit_model, packed, x) -> float:
    """Each PackedBitLinear fed the very input its BitLinear saw: the largest difference of
    their outputs relative to the output's magnitude (float rounding only)."""
    seen = []
    handles = [m.register_forward_hook(lambda mod, args, out: seen.append((mod, args[0], out)))
               for m in bit_model.modules() if isinstance(m, BitLinear)]
    logits(bit_model, x)
    for handle in handles:
        handle.remove()
    twins = {id(b): p for b, p in zip(bit_model.modules(), packed.modules()) if isinstance(b, BitLinear)}
    worst = 0.0
    for module, inputs, out in seen:
        diff = np.abs(twins[id(module)](inputs).numpy() - out.numpy()).max()
        worst = max(worst, float(diff / max(np.abs(out.numpy()).max(), 1e-30)))
    return worst


def compare_packed(bit_model, x_test) -> dict:
    """Export to packed ternary weights; how closely the kernel reproduces the fake-quantized
    model, layer by layer and end to end (where a rounding difference of one float ulp can move
    a hidden activation across a rounding boundary of the next layer's int8 quantizer)."""
    packed = export_ternary(bit_model)
    fake, real = logits(bit_model, x_test), logits(packed, x_test)
    return {
        "layer_max_rel_diff": layer_pairs_max_rel_diff(bit_model, packed, x_test),
        "packed_max_abs_diff": float(np.abs(fake - real).max()),
        "packed_agreement": float((fake.argmax(1) == real.argmax(1)).mean()),
        "packed_weight_bytes": weight_bytes(packed),
    }, packed


def parse_args(argv=None):
    """The options of ``examples/mlp_digits.py`` (dropout 0.1 here), plus ``--bit-lr``."""
    parser = mlp_digits.build_parser("BitNet b1.58 MLP vs float32 on the scikit-learn digits.")
    parser.add_argument("--bit-lr", type=float, default=None, help="BitLinear model's learning rate (default: --lr)")
    parser.set_defaults(dropout=0.1)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    """Train both models, export and quantize; returns the figures the summary prints."""
    args = parse_args(argv)
    with threadpool_limits(limits=args.threads, user_api="blas"):
        ct.set_num_threads(args.threads)
        return compare(args)


def compare(args) -> dict:
    """Train the float32 and BitNet twins with the options ``args``, export and quantize."""
    ct.manual_seed(args.seed)
    data = tuple(ct.tensor(a) for a in mlp_digits.load_digits_split())
    x_test, y_test = data[2:]
    float_model = mlp_digits.build_model(args.hidden, args.dropout)
    bit_model = replace_linear_with_bitlinear(float_model)  # a copy: same initial weights
    float_run = mlp_digits.fit(float_model, data, args, args.lr, "float32")
    bit_run = mlp_digits.fit(bit_model, data, args, args.lr if args.bit_lr is None else args.bit_lr, "bitnet b1.58")
    packed_figures, packed = compare_packed(bit_model, x_test)
    dynamic = quantize_dynamic(float_model)

    metrics = {
        "float_accuracy": float_run["test_accuracy"], "bitnet_accuracy": bit_run["test_accuracy"],
        "packed_accuracy": mlp_digits.accuracy(packed, x_test, y_test),
        "dynamic_accuracy": mlp_digits.accuracy(dynamic, x_test, y_test),
        "float_train_loss": float_run["train_loss"], "bitnet_train_loss": bit_run["train_loss"],
        "float_weight_bytes": weight_bytes(float_model), "dynamic_weight_bytes": weight_bytes(dynamic),
        **packed_figures, "epochs": args.epochs,
        "seconds": float_run["seconds"] + bit_run["seconds"],
    }
    if not args.quiet:
        print_summary(metrics)
    return metrics


def print_summary(m: dict) -> None:
    print(f"float32 MLP            test accuracy {m['float_accuracy']:.4f}  weights {m['float_weight_bytes']:,} B")
    print(f"BitNet b1.58 (QAT)     test accuracy {m['bitnet_accuracy']:.4f}")
    print(f"  packed ternary       test accuracy {m['packed_accuracy']:.4f}  weights {m['packed_weight_bytes']:,} B"
          f"  (predictions agree {m['packed_agreement']:.2%}, logits max |diff| {m['packed_max_abs_diff']:.2e};"
          f" per layer max rel diff {m['layer_max_rel_diff']:.1e})")
    print(f"dynamic int8 (float)   test accuracy {m['dynamic_accuracy']:.4f}  weights {m['dynamic_weight_bytes']:,} B"
          f"  ({100 * (m['dynamic_accuracy'] - m['float_accuracy']):+.2f} points vs float32)")


if __name__ == "__main__":
    main()
