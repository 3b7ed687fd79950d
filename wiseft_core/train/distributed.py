"""Process-group plumbing for ``torchrun``: one code path for 1 process or N (gloo on CPU, nccl on CUDA).

Everything here degrades to a no-op in a plain single process, so fine-tuning and sweeps never
branch on "am I distributed?" beyond asking :func:`current` for the rank and world size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from wiseft_core.devices import resolve_device
from wiseft_core.errors import WiseftError


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str | None = None) -> DistEnv:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); otherwise a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device)
    if world_size > 1:
        if resolved.type == "cuda":
            resolved = torch.device("cuda", local_rank)
            torch.cuda.set_device(resolved)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if resolved.type == "cuda" else "gloo",
                                    rank=rank, world_size=world_size)
    return DistEnv(rank=rank, world_size=world_size, local_rank=local_rank, device=resolved)


def current() -> DistEnv:
    """The environment of an already-initialised process group (or the single-process default)."""
    if dist.is_available() and dist.is_initialized():
        return DistEnv(rank=dist.get_rank(), world_size=dist.get_world_size())
    return DistEnv()


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over ranks (returns it unchanged in one process); counts travel as int64/float64."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        backend_device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        moved = values.to(backend_device).clone()
        dist.all_reduce(moved, op=dist.ReduceOp.SUM)
        return moved.to(values.device)
    return values


def shard(n: int, rank: int, world_size: int) -> list[int]:
    """Rank ``rank``'s share of ``range(n)`` for evaluation: strided, disjoint, no padding or duplicates."""
    return list(range(rank, n, world_size))


class GlobalBatchSampler:
    """Yields this rank's slice of each global batch of a seeded per-epoch permutation.

    Unlike DistributedSampler (which pads and splits the permutation into contiguous per-rank
    halves), every global batch here has the same images for any world size, so N processes take
    exactly the optimisation steps one process takes. The incomplete last batch is dropped.
    """

    def __init__(self, n: int, global_batch: int, rank: int = 0, world_size: int = 1, seed: int = 0):
        if global_batch % world_size:
            raise WiseftError(f"--batch-size {global_batch} must be divisible by the number of processes "
                              f"({world_size})")
        if n < global_batch:
            raise WiseftError(f"the training set has {n} images, fewer than --batch-size {global_batch}")
        self.n, self.global_batch, self.seed = n, global_batch, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n // self.global_batch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.n, generator=generator).tolist()
        for step in range(len(self)):
            batch = order[step * self.global_batch:(step + 1) * self.global_batch]
            yield batch[self.rank::self.world_size]
