"""What training SEAT means: the published network (an original state dict still loads),
trained as its authors' anchor-free heads are: a classification map whose positives are the
cells near the target centre and whose negatives are the cells off the target (and every
cell of a pair without it), and l, t, r, b distances regressed with an IoU loss at every
cell inside the target box.

The crops are the tracker's SiamFC-style ones in the nominal square form (template 2x,
search 4x the target's sqrt(w*h), as ``seat_spec`` says); the network sees raw BGR 0..255.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models.safe_pickle import CheckpointError
from ..models.seat.arch import TrackerHypers, arch_from_dict, resolve_arch
from ..models.seat.checkpoint import copy_fixed_parts, load_seat_checkpoint
from ..models.seat.net import SeatNet
from ..models.strict import load_strict, normalized_state
from ..sampling.pairs import to_input
from .losses import validation_summary
from .teacher import FeatureDistillation

log = logging.getLogger(__name__)

# Positive cells: inside the ellipse of this fraction of the box's half-sides (and the cell
# nearest the centre always), so small targets still get one.
POSITIVE_RADIUS = 0.5


def seat_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC RGB -> the network's float NCHW BGR 0..255."""
    return images.permute(0, 3, 1, 2).flip(1).float()


def template_boxes(norm: torch.Tensor, size: int) -> torch.Tensor:
    """Normalised cx, cy, w, h in the template crop -> x1, y1, x2, y2 crop pixels."""
    cx, cy, w, h = (norm * size).unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def cell_centres(n: int, stride: int, size: int, device: torch.device) -> torch.Tensor:
    """Search-crop pixel of each output cell, as the tracker decodes it."""
    return (torch.arange(n, device=device, dtype=torch.float32) - n // 2) * stride + size // 2


def targets(box: torch.Tensor, n: int, stride: int, size: int) -> dict[str, torch.Tensor]:
    """Per-cell labels for normalised cx, cy, w, h search boxes (B, 4): ``pos`` / ``neg``
    masks (cells in between are ignored), ``inside`` mask and the ``ltrb`` distances.
    """
    g = cell_centres(n, stride, size, box.device)
    cx, cy, w, h = (box * size).unbind(-1)
    gx, gy = g.view(1, 1, n), g.view(1, n, 1)
    cx, cy, w, h = (v.view(-1, 1, 1) for v in (cx, cy, w, h))
    sides = [gx - (cx - w / 2), gy - (cy - h / 2), (cx + w / 2) - gx, (cy + h / 2) - gy]
    ltrb = torch.stack([d.expand(-1, n, n) for d in sides], dim=1)
    inside = ltrb.min(dim=1).values > 0
    radius = ((gx - cx) / (w / 2 * POSITIVE_RADIUS).clamp(min=1e-3)) ** 2
    radius = radius + ((gy - cy) / (h / 2 * POSITIVE_RADIUS).clamp(min=1e-3)) ** 2
    nearest = torch.zeros_like(inside)
    ix = ((cx.view(-1) - g[0]) / stride).round().long().clamp(0, n - 1)
    iy = ((cy.view(-1) - g[0]) / stride).round().long().clamp(0, n - 1)
    nearest[torch.arange(len(box)), iy, ix] = True
    pos = (radius <= 1) | nearest
    return {"pos": pos, "neg": ~inside & ~pos, "inside": inside | pos, "ltrb": ltrb}


def ltrb_iou(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """IoU of boxes given as l, t, r, b distances from the same point (N, 4), where a
    negative distance (the box does not cover the point) still describes a box.
    """
    px1, py1, px2, py2 = -pred[:, 0], -pred[:, 1], pred[:, 2], pred[:, 3]
    gx1, gy1, gx2, gy2 = -gt[:, 0], -gt[:, 1], gt[:, 2], gt[:, 3]
    iw = (torch.min(px2, gx2) - torch.max(px1, gx1)).clamp(min=0)
    ih = (torch.min(py2, gy2) - torch.max(py1, gy1)).clamp(min=0)
    inter = iw * ih
    union = (px2 - px1) * (py2 - py1) + (gx2 - gx1) * (gy2 - gy1) - inter
    return inter / union.clamp(min=1e-6)


def _balanced_bce(logits: torch.Tensor, labels: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    terms = [bce[m].mean() for m in (pos, neg) if m.any()]
    return sum(terms) / len(terms)


class SeatTrainingNet(nn.Module):
    """The whole training pass in one module (for DDP): maps of the positive pairs, maps of
    the negatives (their pair's template, search features without gradients) and the
    teacher-feature loss on the search crops' neck features when distilling.
    """

    def __init__(self, net: SeatNet, distill: FeatureDistillation | None = None) -> None:
        super().__init__()
        self.net, self.distill = net, distill

    def forward(
        self,
        template: torch.Tensor,
        template_box: torch.Tensor,
        search: torch.Tensor,
        neg_search: torch.Tensor,
        neg_index: torch.Tensor,
        teacher_search: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        net = self.net
        cache = net.encode_template(template, template_box)
        xf = net.features(search)
        cls, reg = net.head(net.match(xf, cache))
        out = {"cls": cls, "reg": reg}
        if self.distill is not None and teacher_search is not None:
            out["distill"] = self.distill(xf, teacher_search)
        if len(neg_index):
            with torch.no_grad():
                nf = net.features(neg_search)
            out["neg_cls"] = net.head(net.match(nf, {k: v[neg_index] for k, v in cache.items()}))[0]
        return out


class SeatObjective:
    name = "SEAT"
    uses_negatives = True

    def __init__(self, cfg: dict, device: torch.device, distill: FeatureDistillation | None) -> None:
        self.cfg, self.device = cfg, device
        self.arch = resolve_arch(cfg["model"]["arch"])
        self.net = SeatNet(self.arch).to(device)
        # Fresh heads start at boxes of a typical target (a quarter of the search side)
        # instead of exp(1) pixels, which AdamW's steps would take thousands of iterations
        # to leave; a checkpoint given to ``init_from`` overwrites this.
        with torch.no_grad():
            self.net.prediction.bias.fill_(math.log(self.arch.search_size / 8))
        self.crop_sizes = self.arch
        self.distill = distill is not None
        self.module = SeatTrainingNet(self.net, distill)

    def extra_parameters(self) -> list[nn.Parameter]:
        return []  # no head beside the network (the tracking teacher is AsymTrack's)

    def inputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        dev = self.device
        return (
            seat_input(batch["template"].to(dev)),
            template_boxes(batch["template_box"].to(dev), self.arch.template_size),
            seat_input(batch["search"].to(dev)),
            seat_input(batch["neg_search"].to(dev)),
            batch["neg_index"].to(dev),
            to_input(batch["search"].to(dev)) if self.distill else None,
        )

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        cls, reg = out["cls"][:, 0], out["reg"]
        n = cls.shape[-1]
        t = targets(batch["box"].to(self.device), n, self.arch.stride, self.arch.search_size)
        labels = t["pos"].float()
        logits, pos, neg = cls, t["pos"], t["neg"]
        if "neg_cls" in out:  # every cell of a negative pair is a negative
            nc = out["neg_cls"][:, 0]
            logits = torch.cat([cls, nc])
            labels = torch.cat([labels, torch.zeros_like(nc)])
            pos = torch.cat([pos, torch.zeros_like(nc, dtype=torch.bool)])
            neg = torch.cat([neg, torch.ones_like(nc, dtype=torch.bool)])
        l_cls = _balanced_bce(logits, labels, pos, neg)
        inside = t["inside"]
        pred = reg.permute(0, 2, 3, 1)[inside]
        gt = t["ltrb"].permute(0, 2, 3, 1)[inside]
        iou = ltrb_iou(pred, gt)
        l_reg = -torch.log(iou.clamp(min=1e-6)).mean()
        w = self.cfg["loss"]
        loss = w["cls"] * l_cls + w["reg"] * l_reg
        return loss, {"cls": l_cls.detach(), "reg": l_reg.detach(), "iou": iou.mean().detach()}

    def init_from(self, path: str | Path, sample_batch) -> None:
        """A SEAT checkpoint of the same architecture (an original one, or ours), or of one
        with another fusion neck: a searched architecture starts from the published one's
        backbone, CFM and head, its new blocks and collector from scratch (the published
        one too with ``model.fresh_fusion``).
        """
        src = load_seat_checkpoint(path)
        if src.arch.same_network(self.arch) and not self.cfg["model"]["fresh_fusion"]:
            self.net.load_state_dict(src.state_dict())
            # A fine-tune keeps the tracker settings chosen for the weights it continues
            # from, so its epochs are scored (and shipped) as that file was.
            self._keep_tracker(src.arch.tracker)
            return
        n = copy_fixed_parts(self.net, src, path)
        log.info("%s: %d backbone / neck / CFM / head tensors loaded; fusion blocks and collector start fresh", path, n)

    @torch.no_grad()
    def validate(self, batches: list[dict]) -> dict[str, float]:
        """IoU of the box at the highest-scoring cell (the tracker's choice without its
        motion priors) and that cell's score for positive and negative pairs.
        """
        self.net.eval()
        a, dev = self.arch, self.device
        ious, pos_scores, neg_scores = [], [], []
        for b in batches:
            cache = self.net.encode_template(
                seat_input(b["template"].to(dev)), template_boxes(b["template_box"].to(dev), a.template_size)
            )
            out = self.net.track(seat_input(b["search"].to(dev)), cache)
            cls, reg = out["cls"][:, 0], out["reg"]
            n = cls.shape[-1]
            best = cls.flatten(1).argmax(1)
            iy, ix = best // n, best % n
            rows = torch.arange(len(best), device=dev)
            # the predicted box against the true one, both measured from the chosen cell
            gt = targets(b["box"].to(dev), n, a.stride, a.search_size)["ltrb"][rows, :, iy, ix]
            ious += ltrb_iou(reg[rows, :, iy, ix], gt).cpu().tolist()
            pos_scores += torch.sigmoid(cls.flatten(1).max(1).values).cpu().tolist()
            if len(b["neg_index"]):
                neg_cache = {k: v[b["neg_index"].to(dev)] for k, v in cache.items()}
                nc = self.net.track(seat_input(b["neg_search"].to(dev)), neg_cache)["cls"]
                neg_scores += torch.sigmoid(nc.flatten(1).max(1).values).cpu().tolist()
        return validation_summary(float(np.mean(ious)), pos_scores, neg_scores)

    def checkpoint_fields(self) -> dict:
        """``state_dict`` and ``arch``: what ``load_seat_checkpoint`` reads."""
        return {
            "net_type": "SEAT",
            "state_dict": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
            "arch": self.arch.to_dict(),
        }

    def load_state(self, ckpt: dict, path: Path) -> None:
        if not isinstance(ckpt.get("state_dict"), dict):
            raise CheckpointError(f"{path}: not a SEAT training checkpoint (no state_dict)")
        load_strict(self.net, normalized_state(ckpt["state_dict"]), path, f"SEAT-{self.arch.variant}")
        if "arch" in ckpt:  # a resumed run keeps the tracker settings it was written with
            self._keep_tracker(arch_from_dict(ckpt["arch"], f"{path}: arch").tracker)

    def _keep_tracker(self, tracker: TrackerHypers) -> None:
        self.arch = replace(self.arch, tracker=tracker)
