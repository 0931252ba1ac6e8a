"""The training loop on procedural synthetic data: end to end through the CLI, official
checkpoint layout, resume, learning on a fixed batch, fine-tuning start, config, shipping.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from asymtrack_ros.cli import main
from asymtrack_ros.models.asymtrack import AsymTrack
from asymtrack_ros.models.checkpoint import load_checkpoint
from asymtrack_ros.models.safe_pickle import CheckpointError, read_checkpoint
from asymtrack_ros.sampling.pairs import Augment, PairDataset, collate, to_input
from asymtrack_ros.sampling.synthetic import SyntheticSource
from asymtrack_ros.training.asymtrack_objective import TrainingNet, init_from
from asymtrack_ros.training.config import ConfigError, load_config
from asymtrack_ros.training.trainer import Trainer, train

OFFICIAL_KEYS = {"epoch", "actor_type", "net_type", "net", "net_info", "constructor", "optimizer", "stats", "settings"}
SMALL = [
    "data.sources=[{type: synthetic, procedural: true}]",
    "data.samples_per_epoch=4",
    "data.num_workers=0",
    "data.neg_prob=0.5",
    "optim.batch_size=2",
    "optim.epochs=2",
    "optim.warmup_iters=2",
    "val.pairs=2",
    "log.every_iters=1",
    "threads=1",
]


def _config(*extra: str) -> dict:
    return load_config(Path(__file__).parents[1] / "config" / "train_tiny.yaml", [*SMALL, *extra])


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four iterations (two epochs of two) through the command line."""
    out = tmp_path_factory.mktemp("run")
    config = Path(__file__).parents[1] / "config" / "train_tiny.yaml"
    args = ["train", "--config", str(config), "--out", str(out)]
    assert main(args + [a for s in SMALL for a in ("--set", s)]) == 0
    return out


def test_run_writes_log_plot_and_official_checkpoints(full_run: Path) -> None:
    rows = [json.loads(line) for line in (full_run / "log.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if "loss" in r]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4]
    assert {"giou", "l1", "iou", "score_bce", "lr", "pairs_per_s"} <= set(train_rows[0])
    lrs = [r["lr"] for r in train_rows]  # warm-up over 2 iterations, drop after 80% of 4
    assert lrs == pytest.approx([4e-6, 2.02e-4, 4e-4, 4e-4])
    assert sum("val_iou" in r for r in rows) == 2
    assert (full_run / "loss.png").stat().st_size > 1000
    ckpt = read_checkpoint(full_run / "checkpoints" / "AsymTrack_ep0002.pth.tar")
    assert OFFICIAL_KEYS <= set(ckpt)
    assert type(ckpt["settings"]) is dict and ckpt["settings"]["config_name"] == "tiny"
    assert ckpt["epoch"] == 2 and not any(k.startswith("module.") for k in ckpt["net"])
    assert "backbone.layers.0.blocks.2.rbr_conv.0.weight" in ckpt["net"]  # training form
    net = load_checkpoint(full_run / "checkpoints" / "AsymTrack_ep0002.pth.tar")
    assert net.variant.name == "tiny" and net.score_head is not None


def test_resume_continues_exactly(full_run: Path, tmp_path: Path) -> None:
    """Stopped after 3 of 4 iterations and resumed: the same weights as the run that went through."""
    cfg = _config("optim.max_iters=3")
    partial = train(cfg, tmp_path)
    progress = read_checkpoint(partial)["progress"]
    assert (progress["epoch"], progress["iteration"], progress["step"]) == (1, 1, 3)
    with (tmp_path / "log.jsonl").open("a") as f:
        f.write('{"step": 4, "loss": 9.9}\n')  # logged after the checkpoint, before an interruption
    assert main(["train", "--resume", str(partial), "--out", str(tmp_path), "--set", "optim.max_iters=0"]) == 0
    steps = [json.loads(line)["step"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps.count(4) == 2  # the redone training row and a validation row
    resumed = read_checkpoint(tmp_path / "checkpoints" / "latest.pth.tar")
    straight = read_checkpoint(full_run / "checkpoints" / "latest.pth.tar")
    assert resumed["progress"]["step"] == 4
    for key, value in straight["net"].items():
        torch.testing.assert_close(resumed["net"][key], value, rtol=0, atol=1e-6, msg=key)


def test_resume_refuses_another_batch_size(full_run: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="resume with the same"):
        train(_config("optim.batch_size=1"), tmp_path, resume=full_run / "checkpoints" / "latest.pth.tar")


def test_resume_with_more_epochs_follows_the_new_schedule(full_run: Path, tmp_path: Path) -> None:
    trainer = Trainer(_config("optim.epochs=10"), tmp_path, resume=full_run / "checkpoints" / "latest.pth.tar")
    assert trainer.step == 4 and trainer.epoch == 2
    assert trainer.scheduler.lr_lambdas[0].drop_iter == 8 * 2  # 80% of 10 epochs of 2 iterations
    assert trainer.optimizer.param_groups[1]["lr"] == pytest.approx(4e-4)


def test_loss_decreases_on_a_fixed_batch() -> None:
    torch.manual_seed(0)
    data = PairDataset([SyntheticSource(procedural=True)], [1.0], AsymTrack("tiny").variant, Augment(), neg_prob=1.0)
    batch = collate([data[i] for i in range(4)])
    net = AsymTrack("tiny", score_head=True)
    model = TrainingNet(net).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    from asymtrack_ros.training.losses import box_loss, score_loss

    losses = []
    for _ in range(8):
        out = model(
            to_input(batch["template"]), to_input(batch["search"]), to_input(batch["neg_search"]), batch["neg_index"]
        )
        loss = box_loss(out["boxes"], batch["box"])[0] + score_loss(out["pos_logits"], out["neg_logits"])[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0], losses


def test_init_from_official_checkpoint(tiny_checkpoint: Path, tmp_path: Path) -> None:
    net = AsymTrack("tiny", score_head=True)
    init_from(net, tiny_checkpoint)
    official = read_checkpoint(tiny_checkpoint)["net"]
    torch.testing.assert_close(net.state_dict()["bottleneck.weight"], official["bottleneck.weight"].float())
    with pytest.raises(CheckpointError, match="is AsymTrack-tiny, training AsymTrack-small"):
        init_from(AsymTrack("small"), tiny_checkpoint)


def test_fine_tuning_starts_from_the_shipped_deploy_form(tmp_path: Path) -> None:
    """The shipped file (deploy form, fp16) unfolds to a training-form net whose checkpoints
    fold back to the same outputs, and whose head BatchNorms change nothing on the
    first training batch.
    """
    shipped = Path(__file__).parents[1] / "asymtrack_ros" / "data" / "asymtrack_tiny.pth"
    deploy = load_checkpoint(shipped)
    trainer = Trainer(_config("model.score_head=true"), tmp_path, init=shipped)
    net = trainer.net
    assert any(k.endswith("rbr_conv.0.weight") for k in net.state_dict())  # training form
    batch = collate([trainer.dataset[i] for i in range(2)])
    template, search = to_input(batch["template"]), to_input(batch["search"])
    with torch.no_grad():
        want = deploy(template, search)
        net.train()
        got_train = net(template, search)
        net.eval()
        got_eval = net(template, search)
    for got, tol in ((got_eval, 1e-4), (got_train, 1e-4)):
        torch.testing.assert_close(got["boxes"], want["boxes"], atol=tol, rtol=0)
    folded = load_checkpoint(trainer.save({}, epoch_end=False))  # the official layout, folded again
    with torch.no_grad():
        torch.testing.assert_close(folded(template, search)["boxes"], want["boxes"], atol=1e-4, rtol=0)


def test_config_overrides_and_errors(tmp_path: Path) -> None:
    cfg = _config("optim.lr=1e-3", "model.score_head=false")
    assert cfg["optim"]["lr"] == 1e-3 and cfg["model"]["score_head"] is False
    assert cfg["augment"]["search_center_jitter"] == 3.5 and cfg["optim"]["backbone_lr_mult"] == 0.1
    with pytest.raises(ConfigError, match="unknown config key 'optim.lr_typo'"):
        _config("optim.lr_typo=1")
    with pytest.raises(ConfigError, match="'optim.epochs': expected a number, got 'many'"):
        _config("optim.epochs=many")
    with pytest.raises(ConfigError, match="'model.score_head': expected true or false"):
        _config("model.score_head=1")
    child = tmp_path / "child.yaml"
    child.write_text(f"base: {Path(__file__).parents[1] / 'config' / 'train_small.yaml'}\noptim: {{batch_size: 8}}\n")
    cfg = load_config(child)
    assert cfg["variant"] == "small" and cfg["optim"]["batch_size"] == 8
    for variant in ("tiny", "small", "base"):
        assert load_config(Path(__file__).parents[1] / "config" / f"train_{variant}.yaml")["variant"] == variant


def test_cli_reports_bad_dataset_roots(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = Path(__file__).parents[1] / "config" / "train_tiny.yaml"
    missing = tmp_path / "nowhere"
    args = ["train", "--config", str(config), "--out", str(tmp_path / "o")]
    assert main(args + ["--set", f"data.sources=[{{type: got10k, root: {missing}}}]"]) == 2
    assert f"{missing}: GOT-10k split folder not found" in capsys.readouterr().err


def test_ship_writes_deploy_form_that_loads(full_run: Path, tmp_path: Path) -> None:
    from asymtrack_ros.training.ship import ship

    report = ship([full_run / "checkpoints" / "latest.pth.tar"], tmp_path / "asymtrack_tiny.pth")
    assert report["variant"] == "tiny" and report["score_head"]
    assert report["precision"] == "fp16"
    assert report["fp16_max_box_diff"] <= 1e-3
    saved = read_checkpoint(tmp_path / "asymtrack_tiny.pth")
    assert saved["variant"] == "tiny" and saved["net"]["bottleneck.weight"].dtype == torch.float16
    assert any(k.endswith("reparam_conv.weight") for k in saved["net"])
    net = load_checkpoint(tmp_path / "asymtrack_tiny.pth")
    assert net.score_head is not None


def test_ship_averages_training_checkpoints_and_refuses_deploy_form(full_run: Path, tmp_path: Path) -> None:
    """The mean of two epochs' training weights, then folded: a weight no fold touches
    lies halfway between theirs; averaging a deploy-form file is refused.
    """
    from asymtrack_ros.training.ship import ship

    first, second = (full_run / "checkpoints" / f"AsymTrack_ep000{i}.pth.tar" for i in (1, 2))
    report = ship([first, second], tmp_path / "mean.pth", allow_fp16=False)
    assert report["source"] == f"{first.name} + {second.name}"
    trained = [read_checkpoint(p)["net"]["bottleneck.weight"] for p in (first, second)]
    assert not torch.allclose(trained[0], trained[1])
    mean = load_checkpoint(tmp_path / "mean.pth").state_dict()
    torch.testing.assert_close(mean["bottleneck.weight"], (trained[0] + trained[1]) / 2)
    with pytest.raises(CheckpointError, match="mean.pth: deploy-form weights cannot be averaged"):
        ship([first, tmp_path / "mean.pth"], tmp_path / "bad.pth")


def test_giou_never_rewards_inverted_boxes() -> None:
    """Swapping a predicted box's corners must not lower the loss (the from-scratch trap)."""
    from asymtrack_ros.training.losses import giou

    gen = torch.Generator().manual_seed(0)
    a, b = torch.rand(500, 2, generator=gen), torch.rand(500, 2, generator=gen)
    proper = torch.cat([torch.min(a, b), torch.max(a, b)], 1)
    inverted = torch.cat([torch.max(a, b), torch.min(a, b)], 1)
    c, d = torch.rand(500, 2, generator=gen), torch.rand(500, 2, generator=gen)
    gt = torch.cat([torch.min(c, d), torch.max(c, d)], 1)
    assert (giou(inverted, gt)[0] <= giou(proper, gt)[0] + 1e-6).all()
    g, iou = giou(gt, gt)
    torch.testing.assert_close(g, torch.ones(500))
    torch.testing.assert_close(iou, torch.ones(500))


def test_a_slim_file_fine_tunes_and_resumes_as_the_slim_network(tmp_path: Path) -> None:
    """The shipped file is slim: its run trains those widths, records them in the run's
    config, and resumes them from its checkpoint with a config that does not name them.
    """
    shipped = Path(__file__).parents[1] / "asymtrack_ros" / "data" / "asymtrack_tiny.pth"
    widths = load_checkpoint(shipped).slim
    assert widths  # the file this test is about
    partial = train(_config("model.score_head=true", "optim.max_iters=1"), tmp_path / "a", init=shipped)
    assert load_checkpoint(partial).slim == widths
    assert "slim: " in (tmp_path / "a" / "config.yaml").read_text()
    resumed = train(_config("model.score_head=true", "optim.max_iters=2"), tmp_path / "a", resume=partial)
    assert load_checkpoint(resumed).slim == widths
    with pytest.raises(CheckpointError, match="set model.slim="):
        train(_config("model.score_head=true", "model.slim=32,0"), tmp_path / "b", init=shipped)
