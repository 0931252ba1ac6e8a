"""The training loop: AdamW with a lower backbone lr, warm-up then a step decay, gradient
clipping, DDP under torchrun, checkpoints in the official layout (``load_checkpoint`` reads
them) that also carry what resuming needs, a JSON-lines loss log and its plot.

Output folder: ``config.yaml`` (resolved), ``log.jsonl``, ``loss.png``,
``checkpoints/latest.pth.tar`` (every few minutes) and ``checkpoints/<AsymTrack|SEAT>_ep<NNNN>.pth.tar``.
What the network, its loss and its validation are comes from the family's objective
(``asymtrack_objective``, ``seat_objective``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch import nn
from torch.utils.data import DataLoader

from ..models.safe_pickle import CheckpointError, read_checkpoint
from ..sampling.pairs import PairSampler, collate
from .asymtrack_objective import AsymTrackObjective, slim_text_of
from .datasets import config_pairs
from .seat_objective import SeatObjective
from .teacher import FeatureDistillation, load_teacher

log = logging.getLogger(__name__)
VAL_SEED_OFFSET = 1_000_003  # validation pairs come from a stream the training never draws


@dataclass
class Schedule:
    """lr factor per iteration: linear warm-up, then x``drop_factor`` from ``drop_iter`` on."""

    warmup_iters: int
    warmup_start: float
    drop_iter: int
    drop_factor: float

    def __call__(self, step: int) -> float:
        f = self.drop_factor if step >= self.drop_iter else 1.0
        if step < self.warmup_iters:
            f *= self.warmup_start + (1 - self.warmup_start) * step / self.warmup_iters
        return f


OBJECTIVES = {"asymtrack": AsymTrackObjective, "seat": SeatObjective}


def build_optimizer(net: nn.Module, o: dict, extra: list[nn.Parameter] = ()) -> torch.optim.AdamW:
    """Backbone at ``backbone_lr_mult``, the rest (and ``extra``, e.g. the distillation
    projection) at the full lr.
    """
    backbone = [p for n, p in net.named_parameters() if n.startswith("backbone.") and p.requires_grad]
    rest = [p for n, p in net.named_parameters() if not n.startswith("backbone.") and p.requires_grad]
    return torch.optim.AdamW(
        [{"params": backbone, "lr": o["lr"] * o["backbone_lr_mult"]}, {"params": rest + list(extra), "lr": o["lr"]}],
        lr=o["lr"],
        weight_decay=o["weight_decay"],
    )


def _rng_state() -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [kind, keys.tolist(), pos, has_gauss, gauss],
        "python": random.getstate(),
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


def _save(obj: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _mean(values: list[dict[str, float]]) -> dict[str, float]:
    keys = {k for v in values for k in v}
    return {k: float(np.mean([v[k] for v in values if k in v])) for k in sorted(keys)}


def plot_log(log_path: Path, out_png: Path) -> None:
    """Loss terms against iterations (and validation IoU) from the JSON-lines log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    train = [r for r in rows if "loss" in r]
    val = [r for r in rows if "val_iou" in r]
    if not train:
        return
    fig, ax = plt.subplots(figsize=(9, 5))
    steps = [r["step"] for r in train]
    for key in ("loss", "giou", "l1", "score_bce", "cls", "reg", "distill", "teacher_kl"):
        if key in train[0]:
            ax.plot(steps, [r.get(key, np.nan) for r in train], label=key, linewidth=1)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if val:
        ax2 = ax.twinx()
        (h,) = ax2.plot([r["step"] for r in val], [r["val_iou"] for r in val], "k.-", label="val IoU")
        ax2.set_ylabel("validation IoU")
        ax2.set_ylim(0, 1)
        handles, labels = handles + [h], labels + ["val IoU"]
    ax.legend(handles, labels, loc="upper right")
    ax.set_title(log_path.parent.name)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


class Trainer:
    def __init__(
        self, cfg: dict, out_dir: str | Path, resume: str | Path | None = None, init: str | Path | None = None
    ) -> None:
        start = init or resume  # a slim file trains, and resumes, the slim network
        if start and cfg["model"]["family"] == "asymtrack" and not cfg["model"]["slim"]:
            cfg = {**cfg, "model": {**cfg["model"], "slim": slim_text_of(start, cfg["variant"])}}
        self.cfg, self.out = cfg, Path(out_dir)
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = torch.device(cfg["device"])
        if self.world > 1 and not dist.is_initialized():
            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        if cfg["threads"]:
            torch.set_num_threads(int(cfg["threads"]))
        torch.manual_seed(cfg["seed"] + self.rank)
        self.main = self.rank == 0
        d = cfg["distill"]
        self.distill = (
            FeatureDistillation(load_teacher(d["teacher_weights"] or None)).to(self.device) if d["weight"] else None
        )
        self.objective = OBJECTIVES[cfg["model"]["family"]](cfg, self.device, self.distill)
        self.net = self.objective.net
        data, o = cfg["data"], cfg["optim"]
        self.dataset = config_pairs(
            cfg, self.objective.crop_sizes, data["samples_per_epoch"], cfg["seed"], self.objective.uses_negatives
        )
        self.batch = o["batch_size"]
        self.iters_per_epoch = data["samples_per_epoch"] // (self.batch * self.world)
        if self.iters_per_epoch < 1:
            raise ValueError("data.samples_per_epoch is smaller than one batch on every process")
        extra = list(self.distill.project.parameters()) if self.distill else []
        extra += self.objective.extra_parameters()
        self.optimizer = build_optimizer(self.net, o, extra)
        total = o["epochs"] * self.iters_per_epoch
        drop = math.ceil(o["lr_drop_at"] * o["epochs"]) * self.iters_per_epoch
        self.schedule = Schedule(o["warmup_iters"], o["warmup_start"], drop, o["lr_drop_factor"])
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.schedule)
        self.total_iters = total
        self.epoch, self.iteration, self.step = 0, 0, 0
        if init:
            self.objective.init_from(init, lambda: collate([self.dataset[i] for i in range(self.batch)]))
        if resume:
            self._resume(resume)
        model = self.objective.module
        if self.world > 1:
            # find_unused_parameters: ETM carries reference parameters without gradients.
            model = nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
            # Depthwise conv gradients come channels-last; DDP copies them, correctly, and says so every step.
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        self.model = model
        self.ckpt_dir = self.out / "checkpoints"
        self.log_path = self.out / "log.jsonl"
        if self.main:
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
            (self.out / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
            if resume and self.log_path.is_file():  # rows logged after that checkpoint are redone
                rows = self.log_path.read_text().splitlines(keepends=True)
                self.log_path.write_text("".join(r for r in rows if json.loads(r)["step"] <= self.step))
        self._val_batches: list[dict] | None = None

    # -- checkpoints -------------------------------------------------------------------

    def checkpoint(self, stats: dict[str, float]) -> dict:
        return {
            "epoch": self.epoch,
            **self.objective.checkpoint_fields(),
            "optimizer": self.optimizer.state_dict(),
            "stats": stats,
            "settings": {"config_name": self.cfg["variant"], "config": self.cfg, "script_name": "asymtrack_ros"},
            "scheduler": self.scheduler.state_dict(),
            "distill_projection": self.distill.project.state_dict() if self.distill else None,
            "progress": {
                "epoch": self.epoch,
                "iteration": self.iteration,
                "step": self.step,
                "world": self.world,
                "batch_size": self.batch,
            },
            "rng": _rng_state(),
        }

    def save(self, stats: dict[str, float], epoch_end: bool) -> Path:
        ckpt = self.checkpoint(stats)
        latest = self.ckpt_dir / "latest.pth.tar"
        _save(ckpt, latest)
        if epoch_end:
            _save(ckpt, self.ckpt_dir / f"{self.objective.name}_ep{self.epoch:04d}.pth.tar")
            keep = self.cfg["checkpoint"]["keep"]
            old = sorted(self.ckpt_dir.glob(f"{self.objective.name}_ep*.pth.tar"))
            for p in old[: max(0, len(old) - keep)]:
                p.unlink()
        if self.log_path.is_file():
            plot_log(self.log_path, self.out / "loss.png")
        return latest

    def _resume(self, path: str | Path) -> None:
        ckpt = read_checkpoint(path)
        if not isinstance(ckpt, dict) or "progress" not in ckpt or "optimizer" not in ckpt:
            raise CheckpointError(f"{path}: not a checkpoint of this trainer (no progress/optimizer state)")
        p = ckpt["progress"]
        if (p["world"], p["batch_size"]) != (self.world, self.batch):
            raise CheckpointError(
                f"{path}: written with {p['world']} process(es) x batch {p['batch_size']}; "
                f"resume with the same (now {self.world} x {self.batch})"
            )
        self.objective.load_state(ckpt, Path(path))
        projection = ckpt.get("distill_projection")
        if (projection is None) != (self.distill is None):
            raise CheckpointError(f"{path}: resume with the distillation setting it was written with (distill.weight)")
        if projection is not None:
            self.distill.project.load_state_dict(projection)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        # The schedule follows the config given now (e.g. more epochs) from the saved step on:
        # the step count is restored, the saved schedule parameters are not.
        self.scheduler.load_state_dict({**ckpt["scheduler"], "lr_lambdas": [None] * len(self.optimizer.param_groups)})
        for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs):
            group["lr"] = base * self.schedule(self.scheduler.last_epoch)
        self.epoch, self.iteration, self.step = p["epoch"], p["iteration"], p["step"]
        _set_rng_state(ckpt["rng"])
        log.info("resumed from %s at epoch %d, iteration %d (step %d)", path, self.epoch, self.iteration, self.step)

    # -- loop ----------------------------------------------------------------------------

    def _loader(self, epoch: int, skip: int) -> DataLoader:
        sampler = PairSampler(self.cfg["data"]["samples_per_epoch"], epoch, self.rank, self.world, skip)
        workers = self.cfg["data"]["num_workers"]
        return DataLoader(
            self.dataset,
            batch_size=self.batch,
            sampler=sampler,
            num_workers=workers,
            collate_fn=collate,
            drop_last=True,
            prefetch_factor=4 if workers else None,
        )

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        self.model.train()
        out = self.model(*self.objective.inputs(batch))
        loss, stats = self.objective.loss(out, batch)
        if "distill" in out:
            loss = loss + cfg["distill"]["weight"] * out["distill"]
            stats["distill"] = out["distill"].detach()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg["optim"]["grad_clip"]:
            nn.utils.clip_grad_norm_(self.net.parameters(), cfg["optim"]["grad_clip"])
        lr = self.optimizer.param_groups[1]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        return {"loss": float(loss.detach()), **{k: float(v) for k, v in stats.items()}, "lr": lr}

    def validate(self) -> dict[str, float]:
        """The objective's validation on fixed held-out pairs (same sources, a sample stream
        the training never draws).
        """
        n = self.cfg["val"]["pairs"]
        if not n:
            return {}
        if self._val_batches is None:
            start = VAL_SEED_OFFSET * self.cfg["data"]["samples_per_epoch"]
            items = [self.dataset[start + i] for i in range(n)]
            size = self.cfg["val"]["batch_size"]
            self._val_batches = [collate(items[i : i + size]) for i in range(0, n, size)]
        return self.objective.validate(self._val_batches)

    def _log(self, row: dict) -> None:
        with self.log_path.open("a") as f:
            f.write(json.dumps(row) + "\n")

    def run(self) -> Path | None:
        from tqdm import tqdm

        cfg = self.cfg
        epochs = cfg["optim"]["epochs"]
        every_iters = cfg["log"]["every_iters"]
        every_s = cfg["checkpoint"]["every_minutes"] * 60
        last_ckpt = time.monotonic()
        start_time = time.monotonic()
        max_iters = cfg["optim"]["max_iters"]
        latest = None
        stats: dict[str, float] = {}
        window: list[dict[str, float]] = []
        pairs_seen, window_start, data_time = 0, time.monotonic(), 0.0
        while self.epoch < epochs:
            loader = self._loader(self.epoch, self.iteration * self.batch)
            bar = tqdm(
                total=self.iters_per_epoch,
                initial=self.iteration,
                desc=f"epoch {self.epoch + 1}/{epochs}",
                disable=not self.main,
                mininterval=1.0 if sys.stderr.isatty() else 60.0,
                dynamic_ncols=True,
            )
            fetch_start = time.monotonic()
            for batch in loader:
                if self.iteration >= self.iters_per_epoch:
                    break
                data_time += time.monotonic() - fetch_start
                stats = self.train_step(batch)
                self.iteration += 1
                self.step += 1
                pairs_seen += len(batch["box"]) * self.world
                window.append(stats)
                bar.update(1)
                if self.main and (self.step % every_iters == 0 or self.iteration == self.iters_per_epoch):
                    now = time.monotonic()
                    row = {
                        "step": self.step,
                        "epoch": self.epoch + self.iteration / self.iters_per_epoch,
                        **_mean(window),
                        "pairs_per_s": pairs_seen / max(now - window_start, 1e-9),
                        "data_s_per_iter": data_time / len(window),
                        "elapsed_s": now - start_time,
                    }
                    self._log(row)
                    bar.set_postfix(loss=f"{row['loss']:.3f}", iou=f"{row['iou']:.3f}")
                    window, pairs_seen, window_start, data_time = [], 0, now, 0.0
                stop = bool(max_iters) and self.step >= max_iters and self.iteration < self.iters_per_epoch
                if (
                    self.main
                    and self.iteration < self.iters_per_epoch
                    and (stop or time.monotonic() - last_ckpt >= every_s)
                ):
                    latest = self.save({"loss": stats["loss"]}, epoch_end=False)
                    last_ckpt = time.monotonic()
                if stop:
                    bar.close()
                    return latest
                fetch_start = time.monotonic()
            bar.close()
            self.epoch += 1
            self.iteration = 0
            if self.main:
                val = self.validate()
                if val:
                    self._log({"step": self.step, "epoch": self.epoch, **val})
                    log.info("epoch %d: %s", self.epoch, ", ".join(f"{k} {v:.3f}" for k, v in val.items()))
                latest = self.save({**({"loss": stats["loss"]} if stats else {}), **val}, epoch_end=True)
                last_ckpt = window_start = time.monotonic()  # the data rate counts training only
            if max_iters and self.step >= max_iters:
                break
        if self.world > 1:
            dist.barrier()
        return latest


def train(cfg: dict, out_dir: str | Path, resume: str | Path | None = None, init: str | Path | None = None):
    trainer = Trainer(cfg, out_dir, resume, init)
    try:
        return trainer.run()
    finally:
        if trainer.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
