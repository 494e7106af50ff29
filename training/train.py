"""Train the metacarpal segmentation network on model-grid NPZ files (``dxr.training.data``).

    python -m dxr.training.train --data DIR [DIR...] --out runs/unet --epochs 30

Everything is a flag (``--help``); the run writes ``config.json``, ``metrics.jsonl`` (one line per epoch:
loss, validation Dice per class, time), ``best.pt`` (best mean validation Dice) and ``last.pt``. Seeded
and reproducible on the CPU (``monai.utils.set_determinism``); on CUDA it uses mixed precision.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from monai.data import DataLoader, Dataset
from monai.losses import DiceCELoss
from monai.metrics import DiceMetric
from monai.transforms import (
    Compose,
    EnsureChannelFirstd,
    MapTransform,
    RandAdjustContrastd,
    RandAffined,
    RandFlipd,
    RandGaussianNoised,
    RandomizableTransform,
    RandScaleIntensityd,
    RandShiftIntensityd,
    RandSpatialCropd,
    SpatialPadd,
)
from monai.utils import set_determinism
from scipy import ndimage

from dxr.models.network import build_network
from dxr.models.runtime import N_CLASSES

log = logging.getLogger("dxr.training")

CLASS_NAMES = ("II", "III", "IV", "canal II", "canal III", "canal IV")


@dataclass
class TrainingConfig:
    """Every setting of a run (saved as ``config.json``)."""

    data: list[str] = field(default_factory=list)
    out: str = "runs/unet"
    epochs: int = 30
    batch_size: int = 4
    crop_px: int = 320
    learning_rate: float = 2e-3
    validation_fraction: float = 0.1
    seed: int = 0
    workers: int = 0
    max_minutes: float = 0.0  # stop after this many minutes (0: no limit); the best checkpoint is kept


class RandBlurOrSharpen(RandomizableTransform, MapTransform):
    """Other detectors and vendors: a softer image (Gaussian blur) or an edge-enhanced one (unsharp mask).

    (MONAI's Gaussian smoothing transforms fail on 2-D channel-first arrays in the pinned version.)
    """

    def __init__(self, keys: str, prob: float) -> None:
        RandomizableTransform.__init__(self, prob)
        MapTransform.__init__(self, keys)

    def __call__(self, data: dict) -> dict:
        self.randomize(None)
        if not self._do_transform:
            return data
        blur = self.R.uniform() < 0.5
        sigma = self.R.uniform(0.4, 1.2) if blur else self.R.uniform(1.0, 4.0)
        gain = self.R.uniform(0.3, 1.5)
        result = dict(data)
        for key in self.key_iterator(result):
            image = np.asarray(result[key], dtype=np.float32)
            smooth = ndimage.gaussian_filter(image, sigma=(0, sigma, sigma))
            result[key] = torch.as_tensor(smooth if blur else image + gain * (image - smooth))
        return result


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as archive:
        return {"image": archive["image"].astype(np.float32), "labels": archive["labels"].astype(np.int64)}


def training_transforms(crop_px: int) -> Compose:
    """Augmentation: geometry (flips are anatomy-preserving: a mirrored left hand is a right hand, and the
    labels name bones, not sides), intensity, contrast, noise, blur and edge enhancement of other vendors."""
    keys = ("image", "labels")
    return Compose(
        [
            EnsureChannelFirstd(keys, channel_dim="no_channel"),
            SpatialPadd(keys, spatial_size=(crop_px, crop_px)),
            RandFlipd(keys, prob=0.5, spatial_axis=1),
            RandFlipd(keys, prob=0.2, spatial_axis=0),
            RandAffined(
                keys,
                prob=0.8,
                rotate_range=np.deg2rad(25.0),
                scale_range=0.12,
                translate_range=(20, 20),
                mode=("bilinear", "nearest"),
                padding_mode="zeros",
            ),
            RandSpatialCropd(keys, roi_size=(crop_px, crop_px), random_size=False),
            RandAdjustContrastd("image", prob=0.5, gamma=(0.6, 1.6)),
            RandScaleIntensityd("image", prob=0.5, factors=0.3),
            RandShiftIntensityd("image", prob=0.5, offsets=0.2),
            RandBlurOrSharpen("image", prob=0.5),
            RandGaussianNoised("image", prob=0.5, std=0.05),
        ]
    )


def validation_transforms() -> Compose:
    keys = ("image", "labels")
    return Compose([EnsureChannelFirstd(keys, channel_dim="no_channel")])


def _pad16(tensor: torch.Tensor) -> torch.Tensor:
    height, width = tensor.shape[-2:]
    return torch.nn.functional.pad(tensor, (0, -width % 16, 0, -height % 16))


def train(config: TrainingConfig) -> dict:
    """Run a training; returns the best validation metrics."""
    set_determinism(seed=config.seed)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(config), indent=2))
    files = sorted(path for folder in config.data for path in Path(folder).glob("*.npz"))
    if len(files) < 2:
        raise ValueError(f"need at least 2 NPZ files in {config.data}, found {len(files)}")
    order = np.random.default_rng(config.seed).permutation(len(files))
    n_validation = max(1, round(config.validation_fraction * len(files)))
    validation_files = [files[i] for i in order[:n_validation]]
    training_files = [files[i] for i in order[n_validation:]]
    (out / "split.json").write_text(
        json.dumps({"validation": [p.name for p in validation_files], "training": [p.name for p in training_files]})
    )
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    training_data = Dataset([_load(path) for path in training_files], training_transforms(config.crop_px))
    validation_data = Dataset([_load(path) for path in validation_files], validation_transforms())
    loader = DataLoader(training_data, batch_size=config.batch_size, shuffle=True, num_workers=config.workers)
    network = build_network().to(device)
    loss_function = DiceCELoss(to_onehot_y=True, softmax=True)
    optimiser = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(config.epochs, 1))
    scaler = torch.amp.GradScaler(enabled=device.type == "cuda")
    dice = DiceMetric(include_background=False, reduction="mean_batch", ignore_empty=True)
    best = {"mean_dice": -1.0}
    started = time.monotonic()
    with (out / "metrics.jsonl").open("w") as metrics_file:
        for epoch in range(1, config.epochs + 1):
            network.train()
            losses = []
            for batch in loader:
                image, labels = batch["image"].to(device), batch["labels"].to(device)
                optimiser.zero_grad()
                with torch.autocast(device.type, enabled=device.type == "cuda"):
                    loss = loss_function(network(image), labels)
                scaler.scale(loss).backward()
                scaler.step(optimiser)
                scaler.update()
                losses.append(float(loss.detach()))
            schedule.step()
            per_class = _validate(network, validation_data, dice, device)
            record = {
                "epoch": epoch,
                "loss": float(np.mean(losses)),
                "validation_dice": dict(zip(CLASS_NAMES, per_class, strict=True)),
                "mean_dice": float(np.mean(per_class)),
                "minutes": (time.monotonic() - started) / 60,
            }
            metrics_file.write(json.dumps(record) + "\n")
            metrics_file.flush()
            log.info(
                "epoch %d loss %.4f dice %s (%.1f min)",
                epoch,
                record["loss"],
                " ".join(f"{v:.3f}" for v in per_class),
                record["minutes"],
            )
            torch.save(network.state_dict(), out / "last.pt")
            if record["mean_dice"] > best["mean_dice"]:
                best = record
                torch.save(network.state_dict(), out / "best.pt")
            if config.max_minutes and record["minutes"] > config.max_minutes:
                log.info("time budget of %.0f min reached", config.max_minutes)
                break
    (out / "best.json").write_text(json.dumps(best, indent=2))
    return best


def _validate(network: torch.nn.Module, data: Dataset, dice: DiceMetric, device: torch.device) -> list[float]:
    network.eval()
    dice.reset()
    with torch.no_grad():
        for item in data:
            image = _pad16(item["image"][None].to(device))
            logits = network(image)[..., : item["image"].shape[-2], : item["image"].shape[-1]]
            prediction = torch.nn.functional.one_hot(logits.argmax(1), N_CLASSES).permute(0, 3, 1, 2)
            target = torch.nn.functional.one_hot(item["labels"][None, 0].to(device), N_CLASSES).permute(0, 3, 1, 2)
            dice(prediction, target)
    return [float(value) for value in dice.aggregate()]


def main(argv: list[str] | None = None) -> int:
    defaults = TrainingConfig()
    parser = argparse.ArgumentParser(prog="python -m dxr.training.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", required=True, help="folders of NPZ files (dxr.training.data)")
    for name, value in asdict(defaults).items():
        if name != "data":
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    best = train(TrainingConfig(**vars(args)))
    print(json.dumps(best))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
