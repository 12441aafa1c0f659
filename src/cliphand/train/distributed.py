"""Single-process and torchrun (DistributedDataParallel) runs, and the data order they share."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Dist:
    """Join the process group torchrun set up (NCCL on GPUs, gloo on CPUs), or run alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local_rank}") if cuda else torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        if cuda:
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return Dist(rank=int(os.environ.get("RANK", "0")), world=world, local_rank=local_rank, device=device)


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, rank: int = 0, world: int = 1) -> list[list[int]]:
    """This rank's batches for one epoch: a permutation fixed by (seed, epoch), cut into global
    batches of batch_size x world (the remainder dropped), rank r taking every world-th sample.
    The same on every run, so a resumed run can skip the batches it already did."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    per_step = batch_size * world
    steps = n // per_step
    return [order[s * per_step + rank : (s + 1) * per_step : world].tolist() for s in range(steps)]


def all_reduce_mean(value: torch.Tensor, d: Dist) -> torch.Tensor:
    if d.world > 1:
        value = value.clone()
        dist.all_reduce(value)
        value /= d.world
    return value
