"""The search schedule: weight-only epochs first, then per epoch architecture steps on the
arch split (10 % of the pairs, two sampled ops per mixed op, loss = task + factor *
log(LAT) / log(base)) and weight steps on the rest (one sampled op, task loss); the
derived architecture is written as the JSON the model builder reads.

Multi-GPU: run under ``torchrun``; every rank samples the same paths (seeded by step),
reads its own share of the pairs, and gradients are averaged across ranks.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Subset

from ..models.seat.arch import SeatArch, resolve_arch
from ..models.seat.checkpoint import copy_fixed_parts, load_seat_checkpoint
from .data import ProceduralPairs, SeatPairs
from .derive import derive_arch
from .latency import arch_latency, device_signature, measure_lut
from .loss import task_loss
from .space import SearchSpace
from .supernet import Supernet

log = logging.getLogger(__name__)


@dataclass
class SearchConfig:
    base: str = "lt"  # published variant or architecture .json: backbone, neck, CFM, head, sizes
    out: str = "seat_searched.json"
    space: SearchSpace = field(default_factory=SearchSpace)
    data: list[dict] = field(default_factory=lambda: [{"type": "procedural"}])
    epochs: int = 30
    arch_epoch: int = 15  # weights only before this epoch
    samples_per_epoch: int = 20000
    batch_size: int = 16
    workers: int = 4
    lr: float = 0.005  # SGD momentum 0.9, weight decay 1e-4: warm-up from lr_start, log decay to lr_end
    lr_start: float = 0.001
    lr_end: float = 1e-5
    warmup_epochs: int = 5
    alpha_lr: float = 1e-4  # Adam(0.5, 0.999), weight decay 1e-3, for alpha and beta
    beta_lr: float = 1e-4
    latency_factor: float = 0.15
    latency_log_base: float = 15.0
    latency_backend: str = "onnxruntime"
    lut: str | None = "seat_latency_lut.json"
    lut_repeats: int = 20
    lut_table: str | None = None  # use this table of the LUT file (measured on the target device)
    init: str | None = None  # SEAT checkpoint whose backbone / neck / CFM / head start the supernet
    freeze_backbone: bool = True
    device: str = "cpu"
    seed: int = 0


def lr_at(cfg: SearchConfig, epoch: int) -> float:
    if epoch < cfg.warmup_epochs:
        return cfg.lr_start + (cfg.lr - cfg.lr_start) * epoch / max(1, cfg.warmup_epochs)
    span = max(1, cfg.epochs - cfg.warmup_epochs - 1)
    t = (epoch - cfg.warmup_epochs) / span
    return math.exp(math.log(cfg.lr) + t * (math.log(cfg.lr_end) - math.log(cfg.lr)))


def build_sources(specs: list[dict]) -> list:
    """``procedural`` (built in), else any source of the training pipeline (``build_source``)."""
    sources = []
    for spec in specs:
        if spec.get("type") == "procedural":
            sources.append(ProceduralPairs())
        else:
            from ..training.datasets import build_source

            sources.append(build_source(spec))
    if not sources:
        raise ValueError("no data sources")
    return sources


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _average_grads(params: list[torch.nn.Parameter]) -> None:
    rank, world = _world()
    if world == 1:
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)
        p.grad /= world


def _loader(data: SeatPairs, cfg: SearchConfig, epoch: int) -> DataLoader:
    rank, world = _world()
    data.epoch = epoch
    share = Subset(data, range(rank, len(data), world))
    return DataLoader(share, batch_size=cfg.batch_size, num_workers=cfg.workers, drop_last=len(share) >= cfg.batch_size)


def run_search(cfg: SearchConfig) -> SeatArch:
    rank, world = _world()
    base = resolve_arch(cfg.base)
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    net = Supernet(base, cfg.space)
    if cfg.init:
        copy_fixed_parts(net, load_seat_checkpoint(cfg.init), cfg.init)
    net.to(device).train()
    if cfg.freeze_backbone:  # a frozen (pretrained) backbone keeps its BatchNorm statistics
        net.backbone.eval()
    frozen = {id(p) for p in net.backbone.parameters()} if cfg.freeze_backbone else set()
    weights = [p for p in net.weight_parameters() if id(p) not in frozen]
    arch = net.arch_parameters()
    for p in net.backbone.parameters():
        p.requires_grad_(not cfg.freeze_backbone)

    if rank == 0 or world == 1:
        lut = _lut(base, cfg)
    if world > 1:
        dist.barrier()
        if rank:
            lut = _lut(base, cfg)

    w_opt = torch.optim.SGD(weights, lr=cfg.lr, momentum=0.9, weight_decay=1e-4)
    alphas = [*net.alpha_head.values(), *net.alpha_stack]
    a_opt = torch.optim.Adam(
        [{"params": alphas, "lr": cfg.alpha_lr}, {"params": list(net.betas), "lr": cfg.beta_lr}],
        betas=(0.5, 0.999),
        weight_decay=1e-3,
    )
    sources = build_sources(cfg.data)
    arch_samples = max(cfg.batch_size * world, cfg.samples_per_epoch // 10)
    weight_data = SeatPairs(sources, base, cfg.samples_per_epoch - cfg.samples_per_epoch // 10, cfg.seed, "weights")
    arch_data = SeatPairs(sources, base, arch_samples, cfg.seed, "arch")
    gen = torch.Generator().manual_seed(cfg.seed)  # same on every rank: same sampled paths
    history = []
    for epoch in range(cfg.epochs):
        t0 = time.time()
        for group in w_opt.param_groups:
            group["lr"] = lr_at(cfg, epoch)
        stats: dict[str, list[float]] = {"weight_loss": [], "arch_loss": [], "latency_ms": [], "iou": []}
        if epoch >= cfg.arch_epoch:
            _set_grad(weights, False)
            _set_grad(arch, True)
            for batch in _loader(arch_data, cfg, epoch):
                batch = {k: v.to(device) for k, v in batch.items()}
                net.sample(2, gen)
                before = net.snapshot()
                cls, reg = net(batch["template"], batch["search"], batch["template_box"])
                loss, parts = task_loss(cls, reg, batch)
                lat = net.expected_latency(lut)
                loss = loss + cfg.latency_factor * torch.log(lat) / math.log(cfg.latency_log_base)
                a_opt.zero_grad()
                loss.backward()
                _average_grads(arch)
                if torch.isfinite(loss):
                    a_opt.step()
                    net.rescale(before)
                stats["arch_loss"].append(loss.item())
                stats["latency_ms"].append(lat.item())
            _set_grad(arch, False)
            _set_grad(weights, True)
        else:
            _set_grad(arch, False)
        for batch in _loader(weight_data, cfg, epoch):
            batch = {k: v.to(device) for k, v in batch.items()}
            net.sample(1, gen)
            cls, reg = net(batch["template"], batch["search"], batch["template_box"])
            loss, parts = task_loss(cls, reg, batch)
            w_opt.zero_grad()
            loss.backward()
            _average_grads(weights)
            if torch.isfinite(loss):
                w_opt.step()
            stats["weight_loss"].append(loss.item())
            stats["iou"].append(parts["iou"])
        net.sample(len(cfg.space.stack_ops))
        with torch.no_grad():
            expected = float(net.expected_latency(lut))
        derived = derive_arch(net)
        record = {
            "epoch": epoch,
            "lr": lr_at(cfg, epoch),
            **{k: round(float(np.mean(v)), 5) for k, v in stats.items() if v},
            "expected_latency_ms": round(expected, 3),
            "derived_blocks": [asdict(b) for b in derived.blocks],
            "seconds": round(time.time() - t0, 1),
        }
        history.append(record)
        if rank == 0:
            log.info("search epoch %d: %s", epoch, json.dumps(record))
    result = derive_arch(net, notes=_notes(net, cfg, lut, history))
    result.notes["search"].update(latency_ms=round(arch_latency(result, lut), 3), base_latency_ms=_price(base, lut))
    if rank == 0:
        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        result.to_json(cfg.out)
    return result


def _lut(base: SeatArch, cfg: SearchConfig) -> dict[str, float]:
    return measure_lut(
        base, cfg.space, cfg.lut, cfg.latency_backend, cfg.device, repeats=cfg.lut_repeats, table_name=cfg.lut_table
    )


def _price(base: SeatArch, lut: dict[str, float]) -> float | None:
    """The base's own neck by the same table; None where its ops are outside the space."""
    try:
        return round(arch_latency(base, lut), 3)
    except KeyError:
        return None


def _set_grad(params: list[torch.nn.Parameter], on: bool) -> None:
    for p in params:
        p.requires_grad_(on)


def _notes(net: Supernet, cfg: SearchConfig, lut: dict[str, float], history: list[dict]) -> dict:
    beta = [torch.softmax(b.detach(), -1).round(decimals=4).tolist() for b in net.betas]
    return {
        "search": {
            "widths": list(cfg.space.widths),
            "stack_layers": cfg.space.stack_layers,
            "epochs": cfg.epochs,
            "arch_epoch": cfg.arch_epoch,
            "samples_per_epoch": cfg.samples_per_epoch,
            "data": cfg.data,
            "init": cfg.init,
            "arch_lr": [cfg.alpha_lr, cfg.beta_lr],
            "latency_factor": cfg.latency_factor,
            "seed": cfg.seed,
            "latency_backend": cfg.latency_backend,
            "lut_table": cfg.lut_table or device_signature(cfg.latency_backend, cfg.device),
            "world_size": _world()[1],
            "beta_softmax": beta,
            "expected_latency_ms": history[-1]["expected_latency_ms"] if history else None,
            "history": history,
        }
    }


def setup_distributed(device: str) -> str:
    """Join the ``torchrun`` process group when launched by it; returns this rank's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return device
