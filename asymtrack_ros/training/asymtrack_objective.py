"""What training AsymTrack means: the network, its training pass, its loss (the reference's
box loss plus the score head's), its validation and its checkpoint fields. The trainer is
the same for every family (see ``seat_objective``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from ..models.asymtrack import AsymTrack, widths_from_text, widths_to_text
from ..models.asymtrack_blocks import to_nchw
from ..models.asymtrack_variants import get_variant
from ..models.checkpoint import is_deploy_form, network_from_state, recorded_variant, slim_widths, state_dict_of
from ..models.safe_pickle import CheckpointError, read_checkpoint
from ..models.unfold import match_batchnorms, unfold
from ..sampling.pairs import to_input
from .losses import box_loss, score_loss, validation_summary
from .teacher import FeatureDistillation
from .tracking_teacher import MapHead, TeacherTargets, teacher_loss

log = logging.getLogger(__name__)


class TrainingNet(nn.Module):
    """One module for the whole training pass, so that DDP sees every parameter use:
    boxes for the positive pairs, score-head logits for positives and negatives, the
    teacher-feature loss of the search crops when distilling, and the map head's logits
    when a tracking teacher is set. The negatives reuse their pair's template cache and run
    the backbone without gradients.
    """

    def __init__(
        self,
        net: AsymTrack,
        score_detach: bool = True,
        distill: FeatureDistillation | None = None,
        map_head: MapHead | None = None,
    ) -> None:
        super().__init__()
        self.net, self.score_detach, self.distill, self.map_head = net, score_detach, distill, map_head

    def _fmap(self, search: torch.Tensor, cache: dict[str, torch.Tensor]) -> torch.Tensor:
        feat, hw = self.net.search_features(search, cache)
        return to_nchw(self.net.bottleneck(feat), hw)

    def forward(
        self, template: torch.Tensor, search: torch.Tensor, neg_search: torch.Tensor, neg_index: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        cache = self.net.encode_template(template)
        feat, hw = self.net.search_features(search, cache)
        fmap = to_nchw(self.net.bottleneck(feat), hw)
        boxes = self.net.box_head(fmap)[0]
        out = {"boxes": boxes}
        if self.map_head is not None:
            out["teacher_logits"] = self.map_head(fmap)
        if self.distill is not None:
            out["distill"] = self.distill(to_nchw(feat, hw), search)
        head = self.net.score_head
        if head is not None:
            out["pos_logits"] = head(fmap.detach() if self.score_detach else fmap)
            if len(neg_index):
                with torch.no_grad():
                    neg_map = self._fmap(neg_search, {k: v[neg_index] for k, v in cache.items()})
                out["neg_logits"] = head(neg_map)
            else:
                out["neg_logits"] = boxes.new_zeros(0)
        return out


def init_from(net: AsymTrack, path: str | Path) -> bool:
    """Fine-tuning start: the weights of an official (training-form) checkpoint, or of a
    deploy-form file such as the shipped one, unfolded back to the training form. A score
    head the file lacks keeps its fresh initialisation; any other mismatch is an error.
    Returns whether the file was deploy form (its head BatchNorms then need
    ``match_batchnorms`` on data).
    """
    ckpt = read_checkpoint(path)
    state = state_dict_of(ckpt, Path(path))
    recorded = recorded_variant(ckpt)
    if recorded is not None and recorded != net.variant.name:
        raise CheckpointError(f"{path}: checkpoint is AsymTrack-{recorded}, training AsymTrack-{net.variant.name}")
    slim = slim_widths(state, net.variant)
    if slim != net.slim:
        text = widths_to_text(slim, net.variant)
        raise CheckpointError(f"{path}: slimmed blocks {slim} differ from the network trained; set model.slim={text}")
    deploy = is_deploy_form(state)
    if deploy:
        state = unfold(network_from_state(state, recorded, net.variant.name, str(path))).state_dict()
    result = net.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("score_head.")]
    if missing or result.unexpected_keys:
        raise CheckpointError(
            f"{path}: keys do not match AsymTrack-{net.variant.name} (missing {missing[:3]}, "
            f"unexpected {result.unexpected_keys[:3]})"
        )
    form = " (deploy form, unfolded)" if deploy else ""
    log.info("initialised from %s%s%s", path, form, " (score head fresh)" if result.missing_keys else "")
    return deploy


def slim_text_of(path: str | Path, variant: str) -> str:
    """The slimmed blocks of an AsymTrack file as ``model.slim`` takes them ("" for none):
    a fine-tune from a slim file trains the slim network.
    """
    state, arch = state_dict_of(read_checkpoint(path), Path(path)), get_variant(variant)
    return widths_to_text(slim_widths(state, arch), arch)


class AsymTrackObjective:
    name = "AsymTrack"

    def __init__(self, cfg: dict, device: torch.device, distill: FeatureDistillation | None) -> None:
        self.cfg, self.device = cfg, device
        slim = widths_from_text(cfg["model"]["slim"], get_variant(cfg["variant"]))
        self.net = AsymTrack(cfg["variant"], cfg["model"]["score_head"], slim).to(device)
        self.crop_sizes = self.net.variant
        t = cfg["teacher"]
        self.teacher = TeacherTargets(t["model"], t["threads"]) if t["model"] else None
        self.map_head = MapHead().to(device) if self.teacher else None
        self.module = TrainingNet(self.net, cfg["model"]["score_detach"], distill, self.map_head)
        self.uses_negatives = bool(cfg["model"]["score_head"])

    def extra_parameters(self) -> list[nn.Parameter]:
        """Trained beside the network, not shipped: the tracking teacher's map head."""
        return list(self.map_head.parameters()) if self.map_head else []

    def inputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        dev = self.device
        return (
            to_input(batch["template"].to(dev)),
            to_input(batch["search"].to(dev)),
            to_input(batch["neg_search"].to(dev)),
            batch["neg_index"].to(dev),
        )

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        w = self.cfg["loss"]
        loss, stats = box_loss(out["boxes"], batch["box"].to(self.device), w["giou"], w["l1"])
        if "pos_logits" in out:
            s_loss, s_stats = score_loss(out["pos_logits"], out["neg_logits"])
            loss = loss + w["score"] * s_loss
            stats.update(s_stats)
        if self.teacher is not None:
            t = self.cfg["teacher"]
            targets = self.teacher(to_input(batch["template"]), to_input(batch["search"]), self.net.variant.feat_size)
            t_loss, t_stats = teacher_loss(
                out["teacher_logits"], out["boxes"], targets, t["map_weight"], t["box_weight"], t["min_score"]
            )
            loss = loss + t_loss
            stats.update(t_stats)
        return loss, stats

    def init_from(self, path: str | Path, sample_batch) -> None:
        """Official or shipped weights; a deploy-form file's unfolded head BatchNorms are
        made identities on a training batch (see ``unfold``).
        """
        if not init_from(self.net, path):
            return
        batch = sample_batch()
        dev = self.device
        match_batchnorms(
            self.net,
            lambda: self.net(to_input(batch["template"].to(dev)), to_input(batch["search"].to(dev))),
            [m for m in self.net.box_head.modules() if isinstance(m, nn.BatchNorm2d)],
        )

    @torch.no_grad()
    def validate(self, batches: list[dict]) -> dict[str, float]:
        self.net.eval()
        ious, scores_pos, scores_neg, n = [], [], [], 0
        dev = self.device
        for b in batches:
            cache = self.net.encode_template(to_input(b["template"].to(dev)))
            out = self.net.track(to_input(b["search"].to(dev)), cache)
            _, stats = box_loss(out["boxes"], b["box"].to(dev))
            ious.append(float(stats["iou"]) * len(b["box"]))
            n += len(b["box"])
            scores_pos += out["score"].cpu().tolist()
            if len(b["neg_index"]):
                neg_cache = {k: v[b["neg_index"].to(dev)] for k, v in cache.items()}
                scores_neg += self.net.track(to_input(b["neg_search"].to(dev)), neg_cache)["score"].cpu().tolist()
        return validation_summary(sum(ious) / n, scores_pos, scores_neg)

    def checkpoint_fields(self) -> dict:
        """The official layout, so that ``load_checkpoint`` reads training checkpoints."""
        return {
            "actor_type": "AsymTrackActor",
            "net_type": "AsymTrack",
            "net": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
            "net_info": None,
            "constructor": None,
            "variant": self.cfg["variant"],
            "teacher_head": self.map_head.state_dict() if self.map_head else None,
        }

    def load_state(self, ckpt: dict, path: Path) -> None:
        self.net.load_state_dict(state_dict_of(ckpt, path), strict=True)
        head = ckpt.get("teacher_head")
        if (head is None) != (self.map_head is None):
            raise CheckpointError(f"{path}: resume with the tracking teacher it was written with (teacher.model)")
        if head is not None:
            self.map_head.load_state_dict(head)
