"""Imports flow one way (DESIGN.md): kernels -> arrow -> hdc/quant -> cogrecord -> sql, and
arrow -> graph -> ops -> tensor -> autograd -> nn; the SQL layer never imports the tensor stack."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "python" / "cogtensor"

# module -> cogtensor modules it may import
ALLOWED = {
    "arrow": set(),
    "quant": {"_kernels"},
    "hdc": {"_kernels", "arrow"},
    "cogrecord": {"arrow", "quant"},
    "cli": {"cogrecord", "hdc", "kernels_info", "sql", "examples"},
    "examples": {"arrow", "cogrecord", "hdc", "sql"},
    "dtypes": set(),
    "errors": set(),
    "random": set(),
    "graph": {"dtypes"},
    "ops/autograd_methods": {"errors", "graph"},
    "ops/views": {"dtypes", "errors", "graph", "ops"},
    "ops/elementwise_core": {"dtypes", "errors"},
    "ops/elementwise": {"dtypes", "errors", "graph", "ops"},
    "ops/reduction": {"dtypes", "errors", "graph", "ops"},
    "ops/reduction_kernels": {"dtypes", "errors", "ops"},
    "ops/index_checks": {"dtypes", "errors"},
    "ops/scatter": {"errors", "graph", "ops"},
    "ops/indexing": {"dtypes", "errors", "graph", "ops"},
    "ops/products": {"dtypes", "errors", "graph", "ops"},
    "ops/einsum": {"dtypes", "errors", "graph", "ops"},
    "ops/sorting": {"errors", "graph", "ops"},
    "ops/fused": {"errors", "graph", "ops"},
    "ops/sampling": {"errors", "ops", "random"},
    "ops/shaping": {"dtypes", "errors", "graph", "ops"},
    "tensor": {"arrow", "dtypes", "errors", "graph", "ops"},
    "creation": {"dtypes", "ops", "random", "tensor"},
    "autograd": {"graph", "ops", "tensor"},
    "nn/quantized/__init__": {"nn"},
    "nn/quantized/tensor": {"dtypes", "graph", "nn", "quant", "tensor"},
    "nn/bitnet": {"errors", "graph", "nn", "quant", "tensor"},
    "nn/quantized/dynamic": {"errors", "nn", "quant", "tensor"},
    "distributed/__init__": {"distributed"},
    "distributed/_partitions": {"_kernels"},
    "distributed/_search": {"_kernels", "arrow", "distributed", "hdc"},
    "distributed/_bundle": {"_kernels", "arrow", "distributed"},
    "distributed/_sqlplan": set(),
    "distributed/_sql": {"cogrecord", "distributed", "sql"},
    "fft": {"dtypes", "errors", "graph", "ops", "tensor"},
    "ops/complex": {"dtypes", "errors", "graph", "ops"},
    "linalg/__init__": {"errors", "linalg"},
    "linalg/_common": {"dtypes", "errors", "ops", "tensor"},
    "linalg/solvers": {"graph", "linalg"},
    "linalg/decompositions": {"errors", "graph", "linalg", "ops"},
    "linalg/determinants": {"errors", "graph", "linalg", "ops"},
    "linalg/least_squares": {"errors", "graph", "linalg", "tensor"},
    "linalg/norms": {"dtypes", "errors", "graph", "linalg", "ops"},
    "utils/checkpoint": {"autograd", "graph", "random", "tensor"},
    "nn/functional": {"dtypes", "errors", "graph", "nn", "ops", "random", "tensor"},
    "ops/activation_core": {"dtypes", "errors", "graph", "ops"},
    "ops/activation": {"dtypes", "graph", "ops"},
    "ops/erf_kernels": {"graph", "ops"},
    "ops/special": {"graph", "ops"},
    "ops/statistics": {"errors", "graph", "ops"},
    "nn/_smooth_activations": {"errors", "nn", "ops"},
    "nn/__init__": {"nn"},
    "nn/parameter": {"dtypes", "tensor"},
    "nn/hooks": set(),
    "nn/module_state": {"graph", "nn", "tensor"},
    "nn/module": {"dtypes", "graph", "nn", "tensor"},
    "nn/containers": {"nn"},
    "nn/init": {"errors", "graph", "random", "tensor"},
    "nn/utils": {"dtypes", "graph", "ops", "tensor"},
    "nn/_loss_common": {"dtypes", "errors", "graph"},
    "nn/_cross_entropy": {"errors", "graph", "nn", "ops"},
    "nn/_soft_targets": {"dtypes", "errors", "graph", "nn", "ops"},
    "nn/functional_loss": {"dtypes", "errors", "graph", "nn", "ops"},
    "nn/loss": {"nn"},
    "optim/__init__": {"optim"},
    "optim/optimizer": {"dtypes", "graph", "tensor"},
    "optim/_options": {"tensor"},
    "optim/_updates": {"tensor"},
    "optim/sgd": {"optim", "tensor"},
    "optim/adam": {"optim", "tensor"},
    "optim/rmsprop": {"optim", "tensor"},
    "optim/adagrad": {"optim", "tensor"},
    "optim/adamax": {"optim", "tensor"},
    "optim/nadam": {"optim", "tensor"},
    "optim/_lr_base": {"optim", "tensor"},
    "optim/_lr_decay": {"optim"},
    "optim/_lr_cycles": {"optim"},
    "optim/_lr_composite": {"optim"},
    "optim/lr_scheduler": {"optim"},
    "io": {"dtypes", "random", "tensor"},
    "data/__init__": {"data"},
    "data/dataset": {"creation", "random", "tensor"},
    "data/sampler": {"creation", "random"},
    "data/collate": {"creation", "dtypes", "tensor"},
    "data/dataloader": {"data", "random"},
    "data/columns": {"arrow", "tensor"},
    "data/arrow_dataset": {"data"},
    "data/streaming": {"data"},
    "data/transforms": {"dtypes", "random", "tensor"},
    "nn/functional_utils": {"dtypes", "errors"},
    "nn/functional_conv": {"errors", "graph", "nn", "ops"},
    "nn/functional_pad": {"errors", "graph", "nn"},
    "nn/functional_norm": {"errors", "graph", "nn"},
    "nn/functional_misc": {"errors", "graph", "nn", "ops", "random"},
    "nn/functional_pool": {"dtypes", "errors", "graph", "nn", "ops"},
    "nn/functional_attention_core": {"graph", "nn", "ops", "random"},
    "nn/functional_attention": {"dtypes", "errors", "nn", "ops"},
    "nn/layers/__init__": {"nn"},
    "nn/layers/_factory": {"dtypes", "tensor"},
    "nn/layers/activation": {"nn"},
    "nn/layers/attention": {"nn"},
    "nn/layers/conv": {"nn"},
    "nn/layers/dropout": {"nn"},
    "nn/layers/embedding": {"graph", "nn", "tensor"},
    "nn/layers/linear": {"nn"},
    "nn/layers/normalization": {"errors", "nn", "tensor"},
    "nn/layers/pooling": {"nn"},
    "nn/layers/shape": {"nn"},
    "sql/__init__": {"cogrecord", "sql"},
    "sql/_arrays": {"arrow"},
    "sql/scalar": {"_kernels", "cogrecord", "arrow", "sql"},
    "sql/aggregate": {"_kernels", "sql"},
    "sql/query": {"_kernels", "hdc", "sql"},
}


def cogtensor_imports(path):
    """The cogtensor modules a file imports (first level under cogtensor)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "cogtensor":
            parts = node.module.split(".")
            found.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("cogtensor."))
    return found


def test_imports_flow_one_way():
    for module, allowed in ALLOWED.items():
        used = cogtensor_imports(PKG / f"{module}.py")
        assert used <= allowed, f"{module} imports {used - allowed}"
