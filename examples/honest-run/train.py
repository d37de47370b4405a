"""Train ShapeCNN on the shapes dataset, validating every epoch.

    python train.py --epochs 8 --log-dir runs/shapes_cnn

Writes TensorBoard scalars (train/loss, val/loss, val/accuracy), results/metrics.json and
checkpoints/shape_cnn.pt (the best validation accuracy).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter

from shapes.data import CLASSES, ShapesDataset
from shapes.model import ShapeCNN

HERE = Path(__file__).resolve().parent


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train_one_epoch(model, loader, optimizer) -> float:
    model.train()
    total_loss, seen = 0.0, 0
    for images, labels in loader:
        optimizer.zero_grad()
        logits = model(images)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * labels.size(0)
        seen += labels.size(0)
    return total_loss / seen


@torch.no_grad()
def evaluate(model, loader) -> dict[str, float]:
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    for images, labels in loader:
        logits = model(images)
        total_loss += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += (logits.argmax(dim=1) == labels).sum().item()
        seen += labels.size(0)
    return {"loss": total_loss / seen, "accuracy": correct / seen}


def write_json_atomic(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def save_checkpoint_atomic(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def run(data: Path, epochs: int, batch_size: int, lr: float, seed: int,
        log_dir: Path, checkpoint: Path, results: Path) -> dict:
    seed_everything(seed)
    train_set = ShapesDataset(data, split="train")
    val_set = ShapesDataset(data, split="val")
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=generator)
    val_loader = DataLoader(val_set, batch_size=256)

    model = ShapeCNN(num_classes=len(CLASSES))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    writer = SummaryWriter(str(log_dir))

    best = {"epoch": 0, "accuracy": -1.0}
    history = []
    for epoch in range(1, epochs + 1):
        train_loss = train_one_epoch(model, train_loader, optimizer)
        val = evaluate(model, val_loader)
        writer.add_scalar("train/loss", train_loss, epoch)
        writer.add_scalar("val/loss", val["loss"], epoch)
        writer.add_scalar("val/accuracy", val["accuracy"], epoch)
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val["loss"],
                        "val_accuracy": val["accuracy"]})
        print(f"epoch {epoch}: train loss {train_loss:.4f}  val loss {val['loss']:.4f}  "
              f"val acc {val['accuracy']:.3f}")
        if val["accuracy"] > best["accuracy"]:
            best = {"epoch": epoch, "accuracy": val["accuracy"], "loss": val["loss"]}
            save_checkpoint_atomic(checkpoint, {"model": model.state_dict(), "epoch": epoch,
                                                "val_accuracy": val["accuracy"]})
    writer.close()

    summary = {"best": best, "history": history, "classes": list(CLASSES),
               "train_size": len(train_set), "val_size": len(val_set), "seed": seed}
    write_json_atomic(results, summary)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description="Train ShapeCNN on data/shapes.npz")
    parser.add_argument("--data", type=Path, default=HERE / "data" / "shapes.npz")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-dir", type=Path, default=HERE / "runs" / "shapes_cnn")
    parser.add_argument("--checkpoint", type=Path, default=HERE / "checkpoints" / "shape_cnn.pt")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "metrics.json")
    args = parser.parse_args()
    run(args.data, args.epochs, args.batch_size, args.lr, args.seed, args.log_dir, args.checkpoint, args.results)


if __name__ == "__main__":
    main()
