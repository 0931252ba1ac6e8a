"""SEAT training: labels in the tracker's decoding, a loss that learns, the trainer's runs,
checkpoints and resume for the family, and the shipped file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from asymtrack_ros.models.safe_pickle import CheckpointError
from asymtrack_ros.models.seat.arch import ArchError, builtin_arch
from asymtrack_ros.models.seat.checkpoint import load_seat_checkpoint, save_seat_checkpoint
from asymtrack_ros.models.seat.net import SeatNet
from asymtrack_ros.sampling.pairs import Augment, PairDataset, collate
from asymtrack_ros.sampling.synthetic import SyntheticSource
from asymtrack_ros.training.config import ConfigError, load_config
from asymtrack_ros.training.seat_objective import (
    SeatObjective,
    SeatTrainingNet,
    cell_centres,
    seat_input,
    targets,
    template_boxes,
)
from asymtrack_ros.training.ship import ship
from asymtrack_ros.training.trainer import Trainer, train

CONFIG = Path(__file__).parents[1] / "config" / "train_seat_lt_cpu.yaml"
SMALL = [
    "data.sources=[{type: synthetic, procedural: true}]",
    "data.samples_per_epoch=4",
    "data.neg_prob=0.5",
    "optim.batch_size=2",
    "optim.epochs=2",
    "optim.warmup_iters=1",
    "val.pairs=2",
    "val.batch_size=2",
    "log.every_iters=1",
    "threads=1",
    "distill.weight=0.0",
]


def _config(*extra: str) -> dict:
    return load_config(CONFIG, [*SMALL, *extra])


def test_labels_follow_the_trackers_cell_centres() -> None:
    n, stride, size = 16, 16, 256
    g = cell_centres(n, stride, size, torch.device("cpu"))
    assert g[n // 2] == size // 2 and g[1] - g[0] == stride
    box = torch.tensor([[0.5, 0.5, 0.25, 0.125], [0.3, 0.7, 4 / 256, 4 / 256]])  # 64 x 32 px; a 4 px target
    t = targets(box, n, stride, size)
    c = n // 2
    assert t["pos"][0, c, c] and t["neg"][0, 0, 0] and not t["neg"][0, c, c]
    torch.testing.assert_close(t["ltrb"][0, :, c, c], torch.tensor([32.0, 16.0, 32.0, 16.0]))
    assert int(t["pos"][1].sum()) == 1  # too small to cover a cell centre: the nearest one
    iy, ix = (t["pos"][1].nonzero()[0]).tolist()
    assert abs(g[ix] - 0.3 * size) <= stride / 2 and abs(g[iy] - 0.7 * size) <= stride / 2
    assert not (t["pos"] & t["neg"]).any() and (t["pos"] <= t["inside"]).all()


def test_template_box_is_the_target_in_the_template_crop() -> None:
    data = PairDataset([SyntheticSource(procedural=True)], [1.0], builtin_arch("lt"), Augment(flip=0.0), length=2)
    item = data[0]
    boxes = template_boxes(torch.from_numpy(item["template_box"])[None], 128)[0]
    # the template crop is 2x the target's sqrt(w*h), centred on it (no template jitter)
    side = float(((boxes[2] - boxes[0]) * (boxes[3] - boxes[1])).sqrt())
    assert side == pytest.approx(64.0, abs=1.0)
    assert float((boxes[0] + boxes[2]) / 2) == pytest.approx(64.0, abs=1.0)


def test_seat_loss_decreases_on_a_fixed_batch() -> None:
    torch.manual_seed(0)
    cfg = _config()
    from asymtrack_ros.training.seat_objective import SeatObjective

    objective = SeatObjective(cfg, torch.device("cpu"), None)
    data = PairDataset([SyntheticSource(procedural=True)], [1.0], objective.arch, Augment(), neg_prob=1.0)
    batch = collate([data[i] for i in range(2)])
    assert isinstance(objective.module, SeatTrainingNet)
    opt = torch.optim.AdamW(objective.net.parameters(), lr=1e-3)
    objective.module.train()
    losses = []
    for _ in range(8):
        out = objective.module(*objective.inputs(batch))
        assert out["neg_cls"].shape == out["cls"].shape  # one negative per pair
        loss, stats = objective.loss(out, batch)
        assert 0.0 <= float(stats["iou"]) <= 1.0
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0], losses


def test_seat_run_checkpoints_resume_and_ship(tmp_path: Path) -> None:
    latest = train(_config("optim.max_iters=3"), tmp_path / "run")
    net = load_seat_checkpoint(latest)  # a training checkpoint is a SEAT checkpoint
    assert net.arch.same_network(builtin_arch("lt"))
    assert (tmp_path / "run" / "checkpoints" / "SEAT_ep0001.pth.tar").is_file()
    trainer = Trainer(_config(), tmp_path / "run", resume=latest)
    assert trainer.step == 3 and trainer.epoch == 1 and trainer.iteration == 1
    torch.testing.assert_close(trainer.net.state_dict(), net.state_dict())

    report = ship([latest], tmp_path / "seat.pth")
    shipped = load_seat_checkpoint(tmp_path / "seat.pth", "lt")
    assert report["precision"] in ("fp16", "fp32") and report["bytes"] == (tmp_path / "seat.pth").stat().st_size
    template = seat_input(torch.randint(0, 255, (1, 128, 128, 3), dtype=torch.uint8))
    search = seat_input(torch.randint(0, 255, (1, 256, 256, 3), dtype=torch.uint8))
    box = torch.tensor([[40.0, 40.0, 88.0, 88.0]])
    with torch.no_grad():
        ref, got = SeatNet.forward(net.eval(), template, search, box), shipped(template, search, box)
    assert float((torch.sigmoid(got[0]) - torch.sigmoid(ref[0])).abs().max()) <= 5e-3

    ship([latest], tmp_path / "tuned.pth", tracker={"window_influence": 0.3})
    tuned = load_seat_checkpoint(tmp_path / "tuned.pth")
    assert tuned.arch.tracker.window_influence == 0.3 and tuned.arch.tracker.lr == net.arch.tracker.lr
    for bad in ({"window_influence": 1.5}, {"no_such_key": 1.0}, {"big_sz": 300.5}):
        with pytest.raises(ArchError):
            ship([latest], tmp_path / "bad.pth", tracker=bad)


def test_a_fine_tune_keeps_the_tracker_settings_of_the_file_it_starts_from(tmp_path: Path) -> None:
    start = train(_config("optim.max_iters=1"), tmp_path / "first")
    ship([start], tmp_path / "shipped.pth", tracker={"window_influence": 0.3})
    assert builtin_arch("lt").tracker.window_influence != 0.3
    latest = train(_config("optim.max_iters=3"), tmp_path / "tune", init=tmp_path / "shipped.pth")
    epochs = sorted((tmp_path / "tune" / "checkpoints").glob("SEAT_ep*.pth.tar"))
    assert epochs
    for epoch in epochs:
        assert load_seat_checkpoint(epoch).arch.tracker.window_influence == 0.3, epoch
    resumed = Trainer(_config("optim.epochs=3"), tmp_path / "tune", resume=latest)
    assert resumed.objective.arch.tracker.window_influence == 0.3


@pytest.mark.parametrize("fusion", ["searched", "published, fresh"])
def test_a_fusion_neck_starts_fresh_beside_the_published_networks_other_parts(tmp_path: Path, fusion: str) -> None:
    published = tmp_path / "lt.pth"
    save_seat_checkpoint(SeatNet(builtin_arch("lt")), published)
    if fusion == "searched":
        found = builtin_arch("lt").to_dict()
        found.update(blocks=[dict(in_channels=256, out_channels=256, head_op="wavemlp_k3_t4_dw", stack_ops=[])])
        found.update(collector=[256, 256], variant="lt-searched")
        (tmp_path / "found.json").write_text(json.dumps(found))
        cfg = _config(f"model.arch={tmp_path / 'found.json'}")
    else:
        cfg = _config("model.fresh_fusion=true")
    objective = SeatObjective(cfg, torch.device("cpu"), None)
    fresh = {k: v.clone() for k, v in objective.net.state_dict().items()}
    objective.init_from(published, None)
    src, got = load_seat_checkpoint(published).state_dict(), objective.net.state_dict()
    for name, value in got.items():
        part = name.split(".")[0]
        if part in ("backbone", "neck", "match", "prediction"):
            assert torch.equal(value, src[name]), name
        else:
            assert part in ("fuse", "collector") and torch.equal(value, fresh[name]), name

    other_backbone = tmp_path / "al.pth"
    save_seat_checkpoint(SeatNet(builtin_arch("al")), other_backbone)
    with pytest.raises(CheckpointError, match="do not fit"):
        objective.init_from(other_backbone, None)


def test_seat_config_rejects_an_unknown_family() -> None:
    with pytest.raises(ConfigError, match="model.family"):
        _config("model.family=siamrpn")


def test_default_model_per_family(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from asymtrack_ros.files.resources import MODEL_ENV, SHIPPED_MODELS, default_model_path

    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "mine.onnx"))
    assert default_model_path() == tmp_path / "mine.onnx"  # no family asked: the user's default
    assert default_model_path("seat") == SHIPPED_MODELS["seat"] and SHIPPED_MODELS["seat"].is_file()
    assert default_model_path("asymtrack") == SHIPPED_MODELS["asymtrack"]
    with pytest.raises(ValueError, match="unknown model family 'yolo'"):
        default_model_path("yolo")
