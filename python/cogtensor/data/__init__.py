"""Datasets and data loading (``torch.utils.data``), with Arrow-native sources.

- torch's API: Dataset, IterableDataset, TensorDataset, Subset, ConcatDataset, random_split,
  the samplers, DataLoader, default_collate, default_convert, get_worker_info;
- Arrow sources: :class:`ArrowDataset` over a pyarrow Table / Parquet / CSV / IPC file,
  :func:`from_query` streaming a DataFusion query's result, :func:`arrow_batches_to_tensors`
  for any stream of Arrow batches (e.g. Ray Data); columns become zero-copy tensor views
  where their type allows (:func:`arrow_to_tensor`);
- :mod:`cogtensor.data.transforms`: Normalize, RandomCrop, RandomHorizontalFlip, Compose.

Example:
    >>> from cogtensor.data import DataLoader, TensorDataset
    >>> loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
"""

from cogtensor.data import transforms
from cogtensor.data.arrow_dataset import ArrowDataset
from cogtensor.data.collate import default_collate, default_convert
from cogtensor.data.columns import arrow_to_tensor
from cogtensor.data.dataloader import DataLoader, WorkerInfo, get_worker_info
from cogtensor.data.dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from cogtensor.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler
from cogtensor.data.streaming import QueryDataset, arrow_batches_to_tensors, from_query, rebatch

__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "BatchSampler",
    "DataLoader", "default_collate", "default_convert", "get_worker_info", "WorkerInfo",
    "ArrowDataset", "from_query", "QueryDataset", "arrow_batches_to_tensors", "rebatch", "arrow_to_tensor",
    "transforms",
]
