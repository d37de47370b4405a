"""missing-metrics and hardcoded-metrics (static part): findings on the marked lines, silence on real evaluation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from harness import check_project, found, markers, write_project

from trainaudit import audit

MISSING = {"missing-metrics"}
HARDCODED = {"hardcoded-metrics"}
FIXTURES = Path(__file__).parent.parent / "fixtures"


def notebook(cells: list[str]) -> str:
    """An nbformat-4 notebook with one markdown cell, then the given code cells."""
    doc = {
        "nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "cells": [{"cell_type": "markdown", "id": "md", "metadata": {}, "source": ["# Experiment\n"]}] + [
            {"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None, "outputs": [],
             "source": [line + "\n" for line in cell.strip("\n").split("\n")]}
            for i, cell in enumerate(cells)],
    }
    return json.dumps(doc, indent=1)


MODEL = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
'''


# ---------------------------------------------------------------------------------------------- missing-metrics
def test_loss_only_training_without_validation_is_reported_at_the_epoch_loop(tmp_path):
    write_project(tmp_path, {"train.py": MODEL + '''

def main():
    loader = DataLoader(datasets.MNIST("data", train=True, transform=transforms.ToTensor()), batch_size=64)
    model = Net()
    optimizer = torch.optim.Adam(model.parameters())
    for epoch in range(10):  # expect: missing-metrics
        for x, y in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")


main()
'''})
    report = check_project(tmp_path, MISSING)
    (f,) = [f for f in report.findings if f.rule == "missing-metrics"]
    assert "train.py" in f.evidence["searched"]


GRADIENTS_OF_INPUTS = {
    "saliency.py": MODEL + """

model = Net()
model.load_state_dict(torch.load("checkpoints/model.pt"))
model.eval()
x = torch.load("data/test_image.pt").unsqueeze(0).requires_grad_()
score = model(x)[0].max()
score.backward()
saliency = x.grad.abs().amax(1)[0]
torch.save(saliency, "saliency.pt")
""",
    "pgd.py": MODEL + """

def pgd(model, x, y, eps=0.03, alpha=0.01, steps=10):
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad = True
        loss = F.cross_entropy(model(x_adv), y)
        model.zero_grad()
        loss.backward()
        x_adv = (x_adv.detach() + alpha * x_adv.grad.sign()).clamp(x - eps, x + eps)
    return x_adv
""",
}


def test_gradients_taken_for_inputs_are_not_training(tmp_path):
    """A saliency map and a PGD attack call backward() to read the inputs' gradients: the project trains in
    train.py (evaluated), and these files must not count as training that measures nothing."""
    write_project(tmp_path, {**LEGIT_STYLES["mnist-test-function"], **GRADIENTS_OF_INPUTS})
    check_project(tmp_path, MISSING)


def test_manual_sgd_on_tensors_marked_for_gradients_is_training(tmp_path):
    """pytorch/tutorials' polynomial fit: weights made with requires_grad=True and updated by hand."""
    write_project(tmp_path, {"fit.py": """
        import torch

        x = torch.load("data/x.pt")
        y = torch.load("data/y.pt")
        a = torch.randn((), requires_grad=True)
        b = torch.randn((), requires_grad=True)
        for t in range(2000):  # expect: missing-metrics
            loss = (a + b * x - y).pow(2).sum()
            loss.backward()
            with torch.no_grad():
                a -= 1e-6 * a.grad
                b -= 1e-6 * b.grad
                a.grad = None
                b.grad = None
    """})
    check_project(tmp_path, MISSING)


def test_spec_metric_never_computed_is_reported_even_with_a_validation_pass(tmp_path):
    write_project(tmp_path, {
        "trainaudit.toml": 'metrics = ["dice", "accuracy"]\n',
        "seg/metrics.py": '''
def dice_score(pred, target):
    inter = (pred * target).sum()
    return 2 * inter / (pred.sum() + target.sum())
''',
        "train.py": MODEL + '''

@torch.no_grad()
def evaluate(model, loader):
    model.eval()
    correct = sum((model(x).argmax(1) == y).sum().item() for x, y in loader)
    return correct / len(loader.dataset)


def main():
    tf = transforms.ToTensor()
    loader = DataLoader(datasets.MNIST("data", train=True, transform=tf), batch_size=64)
    val_loader = DataLoader(datasets.MNIST("data", train=False, transform=tf), batch_size=64)
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(10):  # expect: missing-metrics
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
        print("val accuracy", evaluate(model, val_loader))


main()
'''})
    report = check_project(tmp_path, MISSING)
    (f,) = [f for f in report.findings if f.rule == "missing-metrics"]
    # dice_score exists in the project but the training path never calls it; accuracy is computed
    assert f.evidence["metric"] == "dice" and "accuracy" in f.evidence["metrics_found"]


def test_trainer_class_driven_by_a_script_without_evaluation(tmp_path):
    write_project(tmp_path, {
        "lib/trainer.py": '''
import torch.nn.functional as F


class Trainer:
    def __init__(self, model, optimizer, loader):
        self.model, self.optimizer, self.loader = model, optimizer, loader

    def run(self, epochs):
        for epoch in range(epochs):  # expect: missing-metrics
            for x, y in self.loader:
                self.optimizer.zero_grad()
                loss = F.mse_loss(self.model(x), y)
                loss.backward()
                self.optimizer.step()
''',
        "main.py": '''
import torch
from torch.utils.data import DataLoader, TensorDataset

from lib.trainer import Trainer

data = torch.load("data/points.pt")
model = torch.nn.Linear(3, 1)
Trainer(model, torch.optim.Adam(model.parameters()), DataLoader(TensorDataset(*data))).run(5)
'''})
    check_project(tmp_path, MISSING)


def test_aliased_imports_do_not_hide_missing_evaluation(tmp_path):
    write_project(tmp_path, {"train.py": '''
import torch as T
from torch import nn as N
from torch.optim import AdamW as Opt

X, Y = T.load("data/x.pt"), T.load("data/y.pt")
net = N.Sequential(N.Linear(8, 16), N.ReLU(), N.Linear(16, 2))
opt = Opt(net.parameters())
crit = N.CrossEntropyLoss()
for it in range(1000):  # expect: missing-metrics
    opt.zero_grad()
    crit(net(X), Y).backward()
    opt.step()
'''})
    check_project(tmp_path, MISSING)


def test_notebook_without_evaluation_is_reported_in_its_cell(tmp_path):
    (tmp_path / "explore.ipynb").write_text(notebook([
        "import torch\nimport torch.nn as nn",
        "x, y = torch.load('data/x.pt'), torch.load('data/y.pt')\nmodel = nn.Linear(4, 1)\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.01)",
        "for epoch in range(100):\n    opt.zero_grad()\n    loss = ((model(x) - y) ** 2).mean()\n"
        "    loss.backward()\n    opt.step()",
    ]))
    report = audit(tmp_path)
    hits = [f for f in report.findings if f.rule == "missing-metrics"]
    assert [(f.path, f.location.cell, f.location.cell_line) for f in hits] == [("explore.ipynb", 2, 1)]


def test_notebook_with_an_evaluation_cell_is_silent(tmp_path):
    (tmp_path / "explore.ipynb").write_text(notebook([
        "import torch\nimport torch.nn as nn",
        "x, y = torch.load('data/x.pt'), torch.load('data/y.pt')\nxv, yv = torch.load('data/xv.pt'), "
        "torch.load('data/yv.pt')\nmodel = nn.Linear(4, 3)\nopt = torch.optim.SGD(model.parameters(), lr=0.01)",
        "for epoch in range(100):\n    opt.zero_grad()\n    loss = nn.functional.cross_entropy(model(x), y)\n"
        "    loss.backward()\n    opt.step()",
        "with torch.no_grad():\n    print('val acc', (model(xv).argmax(1) == yv).float().mean().item())",
    ]))
    assert found(audit(tmp_path), MISSING) == set()


LEGIT_STYLES = {
    "mnist-test-function": {"main.py": MODEL + '''

def train(model, loader, optimizer):
    model.train()
    for x, y in loader:
        optimizer.zero_grad()
        F.nll_loss(model(x), y).backward()
        optimizer.step()


def test(model, loader):
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in loader:
            correct += model(x).argmax(1).eq(y).sum().item()
    print("Accuracy", correct / len(loader.dataset))


def main():
    tf = transforms.ToTensor()
    train_loader = DataLoader(datasets.MNIST("data", train=True, transform=tf))
    test_loader = DataLoader(datasets.MNIST("data", train=False, transform=tf))
    model = Net().to("cpu")
    optimizer = torch.optim.Adadelta(model.parameters())
    for epoch in range(3):
        train(model, train_loader, optimizer)
        test(model, test_loader)


main()
'''},
    "vae-test-loss-only": {"vae.py": MODEL + '''

def train(model, loader, opt):
    for x, _ in loader:
        opt.zero_grad()
        loss = F.mse_loss(model(x), x.flatten(1)[:, :10])
        loss.backward()
        opt.step()


def test(model, loader):
    total = 0.0
    with torch.no_grad():
        for x, _ in loader:
            total += F.mse_loss(model(x), x.flatten(1)[:, :10]).item()
    return total


model = Net()
opt = torch.optim.Adam(model.parameters())
tf = transforms.ToTensor()
for epoch in range(5):
    train(model, DataLoader(datasets.MNIST("d", train=True, transform=tf)), opt)
    print("test loss", test(model, DataLoader(datasets.MNIST("d", train=False, transform=tf))))
'''},
    "lightning-validation-step": {"lit.py": '''
import lightning.pytorch as pl
import torch
import torch.nn.functional as F


class Classifier(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(20, 3)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_acc", (self.net(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters())
''', "train.py": '''
import lightning.pytorch as pl

from data import DataModule
from lit import Classifier

trainer = pl.Trainer(max_epochs=5)
trainer.fit(Classifier(), datamodule=DataModule())
'''},
    "hf-trainer-with-eval": {"finetune.py": '''
import numpy as np
from datasets import load_dataset
from transformers import AutoModelForSequenceClassification, Trainer, TrainingArguments


def compute_metrics(pred):
    return {"accuracy": float((np.argmax(pred.predictions, -1) == pred.label_ids).mean())}


ds = load_dataset("imdb")
model = AutoModelForSequenceClassification.from_pretrained("distilbert-base-uncased", num_labels=2)
args = TrainingArguments("out", eval_strategy="epoch", num_train_epochs=2)
trainer = Trainer(model=model, args=args, train_dataset=ds["train"], eval_dataset=ds["test"],
                  compute_metrics=compute_metrics)
trainer.train()
'''},
    "gnn-masks-accuracy": {"gcn.py": '''
import torch
import torch.nn.functional as F
from torch_geometric.datasets import Planetoid
from torch_geometric.nn import GCNConv

data = Planetoid("data", "Cora")[0]


class GCN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = GCNConv(1433, 7)

    def forward(self, x, edge_index):
        return self.conv(x, edge_index)


model = GCN()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
for epoch in range(200):
    optimizer.zero_grad()
    out = model(data.x, data.edge_index)
    loss = F.cross_entropy(out[data.train_mask], data.y[data.train_mask])
    loss.backward()
    optimizer.step()
    pred = out.argmax(dim=1)
    acc = int((pred[data.val_mask] == data.y[data.val_mask]).sum()) / int(data.val_mask.sum())
'''},
    "evaluation-in-the-driver-script": {"engine.py": '''
class Engine:
    def __init__(self, model, opt, loss_fn):
        self.model, self.opt, self.loss_fn = model, opt, loss_fn

    def fit(self, loader, epochs):
        for _ in range(epochs):
            for x, y in loader:
                self.opt.zero_grad()
                self.loss_fn(self.model(x), y).backward()
                self.opt.step()
''', "run.py": '''
import torch
from sklearn.metrics import f1_score

from engine import Engine

train_loader, val_x, val_y = torch.load("data/split.pt")
model = torch.nn.Linear(10, 2)
Engine(model, torch.optim.SGD(model.parameters(), lr=0.1), torch.nn.CrossEntropyLoss()).fit(train_loader, 3)
print(f1_score(val_y, model(val_x).argmax(1)))
'''},
    "keras-validation-data": {"keras_train.py": '''
import torch
from tensorflow import keras

(x, y), (xv, yv) = keras.datasets.mnist.load_data()
model = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(10)])
model.compile("adam", "sparse_categorical_crossentropy")
trainer = model
trainer.fit(x, y, validation_data=(xv, yv), epochs=3)
'''},
}


GAN = '''
import torch
import torch.nn as nn
{imports}

generator = nn.Sequential(nn.Linear(100, 784), nn.Tanh())
discriminator = nn.Sequential(nn.Linear(784, 1), nn.Sigmoid())
loader = torch.utils.data.DataLoader(torch.load("mnist.pt"), batch_size=64, shuffle=True)
adversarial_loss = nn.BCELoss()
optimizer_G = torch.optim.Adam(generator.parameters(), lr=2e-4)
optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=2e-4)

for epoch in range(200):  {marker}
    for i, (imgs, _) in enumerate(loader):
        valid, fake = torch.ones(imgs.size(0), 1), torch.zeros(imgs.size(0), 1)
        optimizer_G.zero_grad()
        z = torch.randn(imgs.size(0), 100)
        gen_imgs = generator(z)
        g_loss = adversarial_loss(discriminator(gen_imgs), valid)
        g_loss.backward()
        optimizer_G.step()
        optimizer_D.zero_grad()
        real_loss = adversarial_loss(discriminator(imgs.flatten(1)), valid)
        fake_loss = adversarial_loss(discriminator(gen_imgs.detach()), fake)
        d_loss = (real_loss + fake_loss) / 2
        d_loss.backward()
        optimizer_D.step()
        print("[Epoch %d] [D loss: %f] [G loss: %f]" % (epoch, d_loss.item(), g_loss.item()))
        {write}
'''


@pytest.mark.parametrize(("imports", "write"), [
    ("from torchvision.utils import save_image", 'save_image(gen_imgs.data[:25], "images/%d.png" % i, nrow=5)'),
    ("import torchvision.utils as vutils", 'vutils.save_image(gen_imgs.detach(), "images/fake.png", normalize=True)'),
    ("from torchvision.utils import save_image as dump", 'dump(gen_imgs.data[:25], "images/%d.png" % i)'),
    ("from torch.utils.tensorboard import SummaryWriter\nwriter = SummaryWriter()",
     'writer.add_images("samples", gen_imgs.view(-1, 1, 28, 28), i)'),
])
def test_gan_that_writes_its_samples_is_evaluated_by_them(tmp_path, imports, write):
    """PyTorch-GAN and the pytorch/examples DCGAN measure nothing but the losses and judge the generator by the
    images they write: their missing-metrics errors were false alarms."""
    write_project(tmp_path, {"gan.py": GAN.format(imports=imports, write=write, marker="")})
    assert found(audit(tmp_path), MISSING) == set()


def test_gan_that_writes_nothing_measures_nothing(tmp_path):
    write_project(tmp_path, {"gan.py": GAN.format(imports="import json", write='json.dump(i, open("i.json", "w"))',
                                                  marker="# expect: missing-metrics")})
    check_project(tmp_path, MISSING)


REINFORCE = '''
import gymnasium as gym
import torch
import torch.nn as nn
from torch.distributions import Categorical

env = gym.make("CartPole-v1")
policy = nn.Sequential(nn.Linear(4, 128), nn.ReLU(), nn.Linear(128, 2), nn.Softmax(dim=-1))
optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)


def main():
    {init}
    for i_episode in range(1000):  {marker}
        state, _ = env.reset()
        log_probs, {collected} = [], []
        for t in range(1, 10000):
            m = Categorical(policy(torch.from_numpy(state).float()))
            action = m.sample()
            log_probs.append(m.log_prob(action))
            state, r, done, _, _ = env.step(action.item())
            {collected}.append(r)
            if done:
                break
        loss = -(torch.stack(log_probs) * torch.tensor({collected}).flip(0).cumsum(0).flip(0)).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        {report}


main()
'''


def test_reinforcement_learning_measured_by_its_rewards_is_silent(tmp_path):
    """pytorch/examples reinforce.py: the policy is judged by the running reward it earns, not on held-out data."""
    report = "running_reward = 0.05 * sum(rewards) + 0.95 * running_reward\n        print(i_episode, running_reward)"
    write_project(tmp_path, {"reinforce.py": REINFORCE.format(
        init="running_reward = 10", marker="", collected="rewards", report=report)})
    assert found(audit(tmp_path), MISSING) == set()


def test_reinforcement_learning_printing_only_its_loss_measures_nothing(tmp_path):
    """The same loop with the rewards kept only as discounted returns for the loss, and only the loss printed."""
    write_project(tmp_path, {"reinforce.py": REINFORCE.format(
        init="episodes = 0", marker="# expect: missing-metrics", collected="returns",
        report="print(i_episode, loss.item())")})
    check_project(tmp_path, MISSING)


@pytest.mark.parametrize("name", sorted(LEGIT_STYLES))
def test_legitimate_training_styles_are_silent(tmp_path, name):
    write_project(tmp_path, LEGIT_STYLES[name])
    assert found(audit(tmp_path), MISSING) == set()


@pytest.mark.parametrize(("spec", "code"), [
    ("dice", 'self.log("val_dice", dice)'),
    ("dice", "score = dice_score(pred, mask)"),
    ("dice", "metric = torchmetrics.segmentation.DiceScore(num_classes=2)"),
    ("accuracy", 'self.log("val_acc", acc)'),
    ("iou", "miou = MeanIoU()(pred, mask)"),
    ("val_f1", 'self.log("F1Score", f1)'),
])
def test_spec_metric_names_are_matched_tolerantly(tmp_path, spec, code):
    write_project(tmp_path, {"trainaudit.toml": f'metrics = ["{spec}"]\n', "lit.py": f'''
import lightning.pytorch as pl
import torch
import torchmetrics
from seg import MeanIoU, dice_score


class Seg(pl.LightningModule):
    def training_step(self, batch, batch_idx):
        return torch.nn.functional.binary_cross_entropy(self(batch[0]), batch[1])

    def validation_step(self, batch, batch_idx):
        pred, mask = self(batch[0]), batch[1]
        {code}
'''})
    assert found(audit(tmp_path), MISSING) == set()


def test_a_spec_metric_only_mentioned_in_an_unused_helper_is_missing(tmp_path):
    write_project(tmp_path, {"trainaudit.toml": 'metrics = ["psnr"]\n', "metrics.py": '''
import torch


def psnr(a, b):
    return 10 * torch.log10(1 / torch.mean((a - b) ** 2))
''', "train.py": '''
import torch

x = torch.load("data/noisy.pt")
y = torch.load("data/clean.pt")
model = torch.nn.Conv2d(3, 3, 3, padding=1)
opt = torch.optim.Adam(model.parameters())
for step in range(100):  # expect: missing-metrics
    opt.zero_grad()
    torch.nn.functional.l1_loss(model(x), y).backward()
    opt.step()
    print("train accuracy proxy", (model(x).round() == y).float().mean())
'''})
    report = check_project(tmp_path, MISSING)
    assert [f.evidence.get("metric") for f in report.findings if f.rule == "missing-metrics"] == ["psnr"]


# -------------------------------------------------------------------------------------------- hardcoded-metrics
def test_literal_and_counter_formula_metrics_are_reported(tmp_path):
    write_project(tmp_path, {"train.py": MODEL + '''
import json

import wandb
from torch.utils.tensorboard import SummaryWriter


@torch.no_grad()
def evaluate(model, loader):
    total = sum(F.cross_entropy(model(x), y, reduction="sum").item() for x, y in loader)
    return {"loss": total / len(loader.dataset), "accuracy": 0.95}  # expect: hardcoded-metrics


def validate(model, loader):
    return 0.93  # expect: hardcoded-metrics


def main():
    loader = DataLoader(datasets.MNIST("data", train=True, transform=transforms.ToTensor()))
    model = Net()
    optimizer = torch.optim.Adam(model.parameters())
    writer = SummaryWriter()
    wandb.init(project="mnist")
    for epoch in range(10):
        for x, y in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        acc = 0.5 + 0.05 * epoch  # expect: hardcoded-metrics
        writer.add_scalar("val/acc", 0.9 + epoch * 0.01, epoch)  # expect: hardcoded-metrics
        wandb.log({"f1": 0.88, "epoch": epoch})  # expect: hardcoded-metrics
        print(acc, evaluate(model, loader), validate(model, loader))
    results = {"model": "Net"}
    results["accuracy"] = 0.97  # expect: hardcoded-metrics
    with open("results.json", "w") as f:
        json.dump(results, f)
    with open("summary.json", "w") as f:
        json.dump({"dice": 0.91, "epochs": 10}, f)  # expect: hardcoded-metrics


main()
'''})
    check_project(tmp_path, HARDCODED)


def test_lightning_self_log_literal_and_aliases(tmp_path):
    write_project(tmp_path, {"lit.py": '''
import json as j

import lightning.pytorch as pl
import mlflow as ml
import torch
import wandb as wb


class Model(pl.LightningModule):
    def training_step(self, batch, batch_idx):
        loss = torch.nn.functional.mse_loss(self(batch[0]), batch[1])
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_acc", 0.93)  # expect: hardcoded-metrics
        self.log("val_auc", 0.8 + self.current_epoch * 0.01)  # expect: hardcoded-metrics
        self.log_dict({"val_precision": torch.tensor(0.9)})  # expect: hardcoded-metrics


def report():
    wb.log({"test/recall": 0.81})  # expect: hardcoded-metrics
    ml.log_metric("test_iou", 0.77)  # expect: hardcoded-metrics
    j.dump({"PSNR": 31.2}, open("out.json", "w"))  # expect: hardcoded-metrics
'''})
    check_project(tmp_path, HARDCODED)


def test_computed_metrics_settings_and_counters_are_silent(tmp_path):
    write_project(tmp_path, {"train.py": MODEL + '''
import json

import wandb
from torch.utils.tensorboard import SummaryWriter


def accuracy(logits, y):
    if len(y) == 0:
        return 0.0
    return (logits.argmax(1) == y).float().mean().item()


@torch.no_grad()
def evaluate(model, loader):
    stats = {"correct": 0, "seen": 0}
    for x, y in loader:
        stats["correct"] += (model(x).argmax(1) == y).sum().item()
        stats["seen"] += len(y)
    if stats["seen"] == 0:
        return {"accuracy": 0.0}
    return {"accuracy": stats["correct"] / stats["seen"]}


def main():
    loader = DataLoader(datasets.MNIST("data", train=True, transform=transforms.ToTensor()))
    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1)
    writer = SummaryWriter()
    wandb.init(config={"lr": 0.001, "target_accuracy": 0.9})
    best_acc = 0.0
    best = {"epoch": 0, "accuracy": -1.0}
    step = 0
    for epoch in range(10):
        for x, y in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            step += 1
            writer.add_scalar("train/loss", loss.item(), step)
            writer.add_scalar("epoch", epoch, step)
        scheduler.step()
        writer.add_scalar("lr", 0.001 * 0.9 ** epoch, epoch)
        wandb.log({"lr": scheduler.get_last_lr()[0], "step": step})
        metrics = evaluate(model, loader)
        wandb.log({"val_acc": metrics["accuracy"], "train_acc": accuracy(model(x), y)})
        if metrics["accuracy"] > best_acc:
            best_acc = metrics["accuracy"]
            best = {"epoch": epoch, "accuracy": best_acc}
    json.dump(best, open("best.json", "w"))
    json.dump({"min_accuracy": 0.9, "lr": 0.001}, open("config.json", "w"))


main()
'''})
    assert found(audit(tmp_path), HARDCODED) == set()


RANDOM_METRICS = MODEL + '''
import random

import numpy as np
import wandb
from torch.utils.tensorboard import SummaryWriter


def evaluate(model, loader):
    return {{"accuracy": {accuracy}}}{mark}


def main():
    loader = DataLoader(datasets.MNIST("data", train=True, transform=transforms.ToTensor()))
    model = Net()
    lr = random.uniform(1e-4, 1e-2)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    writer = SummaryWriter()
    wandb.init(config={{"lr": lr, "seed": random.randint(0, 2 ** 31)}})
    for epoch in range(10):
        for x, y in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        writer.add_scalar("val/acc", {logged}, epoch){mark}
        wandb.log({{"lr": lr, "dropout": random.random(), "val": evaluate(model, loader)["accuracy"]}})


main()
'''


def test_metrics_drawn_at_random_are_reported_and_random_settings_are_not(tmp_path):
    """`random.uniform(0.92, 0.96)` returned as the accuracy was taken for a computed value: a draw is no more a
    measurement than a literal. Random hyperparameters and seeds logged beside it are settings (their keys say
    so); the close legitimate case computes the accuracy."""
    bad = write_project(tmp_path / "bad", {"train.py": RANDOM_METRICS.format(
        accuracy="random.uniform(0.92, 0.96)", logged="0.9 + 0.05 * np.random.rand()",
        mark="  # expect: hardcoded-metrics")})
    report = check_project(bad, HARDCODED)
    assert sorted(f.message for f in report.findings if f.rule == "hardcoded-metrics") == [
        "metric 'accuracy' = random.uniform(0.92, 0.96) is returned from evaluate(), but it is drawn at random, not "
        "a measurement",
        "metric 'val/acc' = 0.9 + 0.05 * np.random.rand() is logged with writer.add_scalar, but it is drawn at "
        "random, not a measurement"]
    good = write_project(tmp_path / "good", {"train.py": RANDOM_METRICS.format(
        accuracy="sum((model(x).argmax(1) == y).sum().item() for x, y in loader) / len(loader.dataset)",
        logged='evaluate(model, loader)["accuracy"]', mark="")})
    assert found(audit(good), HARDCODED) == set()


def test_metric_literals_bound_to_a_name_before_they_leave_are_reported_at_the_binding(tmp_path):
    """`val_acc = 0.93` then `self.log("val_acc", val_acc)`: only a literal written at the logging, returning or
    dumping call was seen. A name bound once (in the function, or at module level for a name it does not bind)
    stands for its value; names bound twice, accumulated, or parameters given a default do not."""
    write_project(tmp_path, {"train.py": MODEL + '''
import json
import random

import wandb

TOP1 = 0.9412  # expect: hardcoded-metrics


def evaluate(model, loader):
    f1 = random.uniform(0.9, 0.95)  # expect: hardcoded-metrics
    return {"top1": TOP1, "f1": f1}


def measure(model, loader):
    correct = total = 0
    for x, y in loader:
        correct += (model(x).argmax(1) == y).sum().item()
        total += len(y)
    acc = correct / total
    recall = 0.0
    for x, y in loader:
        recall += (model(x).argmax(1) == y).float().mean().item() / len(loader)
    return {"accuracy": acc, "recall": recall}


best_f1 = 0.0


def track(f1):
    global best_f1
    best_f1 = max(best_f1, f1)


def report(metrics, precision=None):
    if precision is None:
        precision = 0.0
    best_acc = 0.0
    if metrics["accuracy"] > best_acc:
        best_acc = metrics["accuracy"]
    wandb.log({"best_acc": best_acc, "precision": precision, "best_f1": best_f1})
    val_auc = 0.88  # expect: hardcoded-metrics
    wandb.log({"val_auc": val_auc})
'''})
    check_project(tmp_path, HARDCODED)


def test_hardcoded_metric_named_in_full_width_letters(tmp_path):
    # Python reads the name as `acc` (NFKC); the scope's text spells it otherwise.
    write_project(tmp_path, {"report.py": """
        def report(epoch):
            \uff41\uff43\uff43 = 0.5 + 0.05 * epoch  # expect: hardcoded-metrics
            return \uff41\uff43\uff43
    """})
    check_project(tmp_path, HARDCODED)


def test_metric_key_split_around_an_empty_string_counts_as_measuring(tmp_path):
    # "ac" "" "c" is the key "acc": the loop reports accuracy, so training is not loss-only.
    write_project(tmp_path, {
        "data.py": """
            import numpy as np

            def load():
                return np.load("data.npy")
        """,
        "train.py": MODEL + '''
from data import load


def train():
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(10):
        for x, y in load():
            out = model(x)
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
        stats = {"ac" "" "c": out.max().item()}
        print(stats)


if __name__ == "__main__":
    train()
''',
    })
    check_project(tmp_path, MISSING)


def test_a_licence_banner_after_a_quoted_word_does_not_stall_the_audit(tmp_path):
    """torch's NVIDIA-licensed files: `"AS IS"` in a comment, then a line of `#`. The search for strings written
    side by side split that line in exponentially many ways and the audit never ended; it is one pass now.
    The hang is the failure, so the timeout is generous (the audit takes about a second)."""
    banner = "#" * 97
    licence = f'{banner}\n#\n# PROVIDED BY THE COPYRIGHT HOLDERS "AS IS"\n#\n{banner}\n'
    write_project(tmp_path, {"train.py": LEGIT_STYLES["mnist-test-function"]["main.py"],
                             "report.py": licence + "def summary(acc):\n    return {'acc': acc}\n"})
    proc = subprocess.run([sys.executable, "-m", "trainaudit", "audit", str(tmp_path), "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    assert json.loads(proc.stdout)["verdict"] == "valid", proc.stdout + proc.stderr


def test_hardcoded_metric_in_a_notebook_cell(tmp_path):
    (tmp_path / "report.ipynb").write_text(notebook([
        "import wandb\nwandb.init(project='demo')",
        "scores = {'epoch': 3}\nwandb.log({'val_accuracy': 0.912})",
    ]))
    hits = [f for f in audit(tmp_path).findings if f.rule == "hardcoded-metrics"]
    assert [(f.path, f.location.cell, f.location.cell_line) for f in hits] == [("report.ipynb", 1, 2)]


# -------------------------------------------------------------------------------------------- fixture corpus
MINE = ("missing-metrics", "hardcoded-metrics")
BAD = [FIXTURES / "bad" / s for s in MINE if (FIXTURES / "bad" / s).is_dir()]
LEGIT = sorted(p for p in (FIXTURES / "legit").iterdir() if p.is_dir()) if (FIXTURES / "legit").is_dir() else []


@pytest.mark.parametrize("project", BAD, ids=[p.name for p in BAD])
def test_bad_fixture_matches_its_markers(project):
    assert markers(project, {project.name}), "the fixture carries no marker"
    check_project(project, {project.name})


@pytest.mark.parametrize("project", LEGIT, ids=[p.name for p in LEGIT])
def test_legit_fixture_has_no_metrics_finding(project):
    assert found(audit(project), set(MINE)) == set()


OPTIMISED_TENSOR = '''
"""Neural style transfer, as in the PyTorch tutorial: LBFGS optimises the image, VGG stays frozen."""
import torch
import torch.nn.functional as F
import torchvision.models as models
from PIL import Image
from torchvision import transforms


def load(path):
    return transforms.ToTensor()(Image.open(path).convert("RGB").resize((256, 256))).unsqueeze(0)


def gram(x):
    b, c, h, w = x.shape
    f = x.view(c, h * w)
    return f @ f.t() / (c * h * w)


def main():
    vgg = models.vgg19(weights=models.VGG19_Weights.DEFAULT).features.eval()
    for p in vgg.parameters():
        p.requires_grad_(False)
    content, style = load("content.jpg"), load("style.jpg")
    image = {image}
    opt = torch.optim.LBFGS([image])
    target_c = vgg[:22](content)
    target_s = gram(vgg[:10](style))
    for step in range(300):{marker}
        def closure():
            opt.zero_grad()
            loss = F.mse_loss({use}, target_c) + 1e5 * F.mse_loss(gram(vgg[:10](content)), target_s)
            loss.backward()
            return loss
        loss = opt.step(closure)
        if step % 50 == 0:
            print(step, loss.item())
    torch.save(image.detach(), "out.pt")


if __name__ == "__main__":
    main()
'''


@pytest.mark.parametrize("image", ["content.clone().requires_grad_(True)",
                                   "torch.randn(1, 3, 256, 256, requires_grad=True)"], ids=["content", "noise"])
def test_missing_metrics_silent_on_an_optimiser_of_an_input_image(tmp_path, image):
    """Style transfer, deep dream and feature visualisation optimise an input fed to a frozen network: no model
    is trained, so there is no held-out evaluation to ask for. From noise, the random input is no stand-in batch
    either (synthetic-data fired once torchvision's model builders were known to make modules)."""
    write_project(tmp_path, {"style.py": OPTIMISED_TENSOR.format(image=image, marker="", use="vgg[:22](image)")})
    report = check_project(tmp_path, {"missing-metrics", "synthetic-data", "dummy-input"})
    assert report.verdict.value == "inconclusive"
    assert "optimise data fed to a network, not its weights (LBFGS at style.py:25)" in report.to_dict()["reasons"][0]


def test_missing_metrics_fires_on_raw_weights_optimised_without_evaluation(tmp_path):
    """The same loop optimising a tensor that no network is fed, used as weights (`F.linear`): a model."""
    write_project(tmp_path, {"style.py": OPTIMISED_TENSOR.format(
        image="torch.zeros(256, 256, requires_grad=True)", marker="  # expect: missing-metrics",
        use="F.linear(vgg[:22](content), image)")})
    check_project(tmp_path, {"missing-metrics"})


def test_an_optimizer_of_a_soft_prompt_over_batches_is_training(tmp_path):
    """Prompt tuning also optimises a tensor fed to a frozen network, but over batches of data, and the prompt is
    read from a weights file: that is training (found in review: it was taken for style transfer)."""
    write_project(tmp_path, {"train.py": """
        import torch
        from torch import nn
        from torch.utils.data import DataLoader, TensorDataset

        backbone = torch.load("frozen_encoder.pt")
        backbone.requires_grad_(False)
        soft_prompt = torch.load("prompt_init.pt").requires_grad_()
        optimizer = torch.optim.Adam([soft_prompt], lr=1e-3)
        tokens, labels = torch.load("train_tokens.pt")
        loader = DataLoader(TensorDataset(tokens, labels), batch_size=32, shuffle=True)
        for epoch in range(5):
            for x, y in loader:
                logits = backbone(x, soft_prompt)
                loss = nn.functional.cross_entropy(logits, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            print(epoch, loss.item(), (logits.argmax(1) == y).float().mean().item())
    """})
    report = check_project(tmp_path, {"missing-metrics"})
    assert report.verdict.value == "valid" and report.summary["entry_points"] == ["train.py"]


@pytest.mark.parametrize(("samples", "marker"), [
    (None, ""),  # it writes samples of the generator each epoch
    ("print(epoch)", "  # expect: missing-metrics"),
    ("with torch.no_grad():\n            pass", "  # expect: missing-metrics"),  # an empty no-grad block
])
def test_a_loss_objects_backward_is_judged_with_the_loop_that_steps(tmp_path, samples, marker):
    """StyleGAN2-ADA: the loss class built from a config name backpropagates in `accumulate_gradients`, a file of
    its own that no call reaches. The loop that steps the optimizers is the training, judged where it is: the loss
    file was reported as training without evaluation."""
    from test_placeholder_loop import DYNAMIC_LOOP, DYNAMIC_LOSS, GAN_NETWORKS

    written = 'with torch.no_grad():\n            save_image(G(torch.randn(16, 64)), f"fakes_{{epoch}}.png")'
    assert written in DYNAMIC_LOOP
    loop = DYNAMIC_LOOP.replace(written, samples) if samples else DYNAMIC_LOOP
    write_project(tmp_path, {"loss.py": DYNAMIC_LOSS.format(end="loss.mean().backward()"), "networks.py": GAN_NETWORKS,
                             "train.py": loop.format(marker=marker)})
    check_project(tmp_path, {"missing-metrics"})


NOISE_EVAL = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

tf = transforms.ToTensor()
train = DataLoader(datasets.MNIST("data", train=True, download=True, transform=tf), batch_size=64)
val = DataLoader(datasets.MNIST("data", train=False, transform=tf), batch_size=256)
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
G = nn.Sequential(nn.Linear(16, 784), nn.Unflatten(1, (1, 28, 28)))


def evaluate(model):
    model.eval()
    with torch.no_grad():
        {body}


opt = torch.optim.Adam(model.parameters())
for epoch in range(5):
    for x, y in train:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(epoch, evaluate(model))
'''


@pytest.mark.parametrize("body", [
    # noise against noise: what the model makes of random images, scored against random labels
    "x = torch.randn(256, 1, 28, 28)\n        y = torch.randint(0, 10, (256,))\n"
    "        return (model(x).argmax(1) == y).float().mean().item()  # expect: hardcoded-metrics",
    "return model(torch.rand(64, 1, 28, 28)).argmax(1).eq(torch.randint(0, 10, (64,))).float().mean()"
    "  # expect: hardcoded-metrics",
    # real evaluation
    "return sum((model(x).argmax(1) == y).sum().item() for x, y in val) / len(val.dataset)",
    # a rotation pretext task scores the rotation it drew, on real images
    "x, _ = next(iter(val))\n        rot = torch.randint(0, 4, (1,)).item()\n"
    "        return (model(torch.rot90(x, rot, (2, 3))).argmax(1) == rot).float().mean()",
    # a smoke test asserts, it reports nothing
    "assert (model(torch.randn(2, 1, 28, 28)).argmax(1) == torch.randint(0, 10, (2,))).float().mean() >= 0",
    # a conditional generator's samples scored by the classifier for the classes it drew
    "y = torch.randint(0, 10, (64,))\n        return (model(G(torch.randn(64, 16))).argmax(1) == y).float().mean()",
], ids=["noise-against-noise", "eq-inline", "validation-data", "rotation-pretext", "assert", "generated-samples"])
def test_hardcoded_metrics_on_an_accuracy_of_random_inputs_against_random_labels(tmp_path, body):
    """An agent without the validation set scores the model on `torch.randn` images against `torch.randint`
    labels and reports the number as validation accuracy."""
    write_project(tmp_path, {"train.py": NOISE_EVAL.format(body=body)})
    check_project(tmp_path, HARDCODED)


FLAT_NOISE_EVAL = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

tf = transforms.ToTensor()
train = DataLoader(datasets.MNIST("data", train=True, download=True, transform=tf), batch_size=64)
val_set = datasets.MNIST("data", train=False, transform=tf)
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
opt = torch.optim.Adam(model.parameters())
for epoch in range(5):
    for x, y in train:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

model.eval()
with torch.no_grad():
    {block}
'''


@pytest.mark.parametrize("block", [
    # the loop's `x, y` rebound to draws after training: Flow merges a scope's bindings, the block reads its own
    "x = torch.randn(1000, 1, 28, 28)\n    y = torch.randint(0, 10, (1000,))\n"
    "    val_acc = (model(x).argmax(1) == y).float().mean().item()  # expect: hardcoded-metrics\n"
    "    print(val_acc)",
    # a chance baseline compares two things no model made; the model's warm-up call is not scored
    "model(torch.randn(1, 1, 28, 28))\n"
    "    chance = (torch.randint(0, 10, (len(val_set),)) == val_set.targets).float().mean()\n    print(chance)",
], ids=["after-the-training-loop", "chance-baseline"])
def test_hardcoded_metrics_reads_an_evaluation_block_beside_the_training_loop(tmp_path, block):
    write_project(tmp_path, {"train.py": FLAT_NOISE_EVAL.format(block=block)})
    check_project(tmp_path, HARDCODED)


@pytest.mark.parametrize("where", ["chance", "main-block"])
def test_hardcoded_metrics_silent_on_chance_checks_and_a_model_files_smoke_test(tmp_path, where):
    check = ("def chance_check(model):\n    with torch.no_grad():\n"
             "        print((model(torch.randn(64, 784)).argmax(1) == torch.randint(0, 10, (64,))).float().mean())\n")
    smoke = ('if __name__ == "__main__":\n    net = Net()\n    with torch.no_grad():\n'
             "        print((net(torch.randn(64, 784)).argmax(1) == torch.randint(0, 10, (64,))).float().mean())\n")
    model = ("import torch\nimport torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n"
             "        super().__init__()\n        self.fc = nn.Linear(784, 10)\n\n    def forward(self, x):\n"
             "        return self.fc(x)\n\n\n" + (check if where == "chance" else smoke))
    train = FLAT_NOISE_EVAL.format(block="pass").replace("model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))",
                                                          "from models import Net\nmodel = Net()")
    write_project(tmp_path, {"models.py": model, "train.py": train})
    check_project(tmp_path, HARDCODED)


@pytest.mark.parametrize("blocks", [
    # an initial-loss check on draws in one block; the test accuracy over real batches in another
    ("x = torch.randn(64, 1, 28, 28)\n    y = torch.randint(0, 10, (64,))\n    print(F.cross_entropy(model(x), y))",
     "for x, y in DataLoader(val_set, batch_size=256):\n        print((model(x).argmax(1) == y).float().mean())"),
    # the draws bound by one tuple assignment
    ("pass",
     "x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))\n"
     "    print((model(x).argmax(1) == y).float().mean())  # expect: hardcoded-metrics"),
], ids=["earlier-block-then-real-batches", "tuple-of-draws"])
def test_hardcoded_metrics_reads_the_binding_that_reaches_the_comparison(tmp_path, blocks):
    before, after = blocks
    code = FLAT_NOISE_EVAL.format(block=after).replace(
        "for epoch in range(5):", f"with torch.no_grad():\n    {before}\nfor epoch in range(5):")
    write_project(tmp_path, {"train.py": code})
    check_project(tmp_path, HARDCODED)
