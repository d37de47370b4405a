"""placeholder-loop: loops that never train, optimizers never stepped, fake losses; silence on real training."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from harness import check_project, found, markers, write_project

from trainaudit import audit

SLUG = {"placeholder-loop"}
FIXTURES = Path(__file__).parent.parent / "fixtures"

HEAD = '''
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

loader = DataLoader(datasets.MNIST("data", transform=transforms.ToTensor()), batch_size=64)
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
'''


def notebook(cells: list[str]) -> str:
    doc = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
           "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None, "outputs": [],
                      "source": [line + "\n" for line in cell.split("\n")]} for i, cell in enumerate(cells)]}
    return json.dumps(doc)


@pytest.mark.parametrize("body", [
    "pass",
    "...",
    "# TODO: forward, loss, backward, step\n        pass",
    'print(f"epoch {epoch}")\n        time.sleep(1.0)',
    "for x, y in loader:\n            out = model(x)",
])
def test_loops_that_never_backpropagate_or_step(tmp_path, body):
    write_project(tmp_path, {"train.py": HEAD + f'''

def train(epochs=10):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.zero_grad()
    for epoch in range(epochs):  # expect: placeholder-loop
        {body}


train()
'''})
    check_project(tmp_path, SLUG)


def test_while_step_loop_at_module_level_in_a_file_that_builds_an_optimizer(tmp_path):
    write_project(tmp_path, {"train.py": HEAD + '''
optimizer = torch.optim.Adam(model.parameters())
step = 0
while step < 1000:  # expect: placeholder-loop
    step += 1
    if step % 100 == 0:
        print("step", step, "loss", F.cross_entropy(model(torch.load("x.pt")), torch.load("y.pt")).item())
optimizer.step()
'''})
    check_project(tmp_path, SLUG)


def test_optimizer_built_but_never_stepped(tmp_path):
    write_project(tmp_path, {"train.py": HEAD + '''

def train_epoch(model, loader, optimizer):
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()


def main():
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)  # expect: placeholder-loop
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 10)
    for epoch in range(5):
        train_epoch(model, loader, optimizer)
        scheduler.step()
        print(optimizer.param_groups[0]["lr"])


main()
'''})
    check_project(tmp_path, SLUG)


SELF_UPDATE = HEAD + '''

class Trainer:
    def __init__(self, model):
        self.model = model

    def _update(self, optimizer, loss):
        optimizer.zero_grad()
        loss.backward()
        {step}

    def fit(self, epochs):
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3){marker}
        for epoch in range(epochs):
            for x, y in loader:
                self._update(optimizer, F.cross_entropy(self.model(x), y))


Trainer(model).fit(5)
'''


def test_optimizer_handed_to_a_method_on_self_that_never_steps_it(tmp_path):
    """`self._update(optimizer, loss)` was an escape (the optimizer might be stepped anywhere): the method is
    followed like a function now, and one that only zeroes the gradients and backpropagates steps nothing."""
    bad = write_project(tmp_path / "bad", {"train.py": SELF_UPDATE.format(
        step="pass  # optimizer.step() comes later", marker="  # expect: placeholder-loop")})
    check_project(bad, SLUG)
    good = write_project(tmp_path / "good", {"train.py": SELF_UPDATE.format(step="optimizer.step()", marker="")})
    check_project(good, SLUG)


def test_loss_made_of_the_epoch_counter_and_a_constant_tensor_loss(tmp_path):
    write_project(tmp_path, {"counter.py": HEAD + '''

def train(epochs=10):
    for epoch in range(epochs):
        for x, _ in loader:
            model(x)
        loss = 1.0 / (epoch + 1)  # expect: placeholder-loop
        print(f"epoch {epoch}: loss {loss:.4f}")
''', "constant.py": HEAD + '''
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(10):
    opt.zero_grad()
    fake = torch.tensor(0.5 * 0.9 ** epoch, requires_grad=True)  # expect: placeholder-loop
    fake.backward()
    opt.step()
''', "jitter.py": "import random\n" + HEAD + '''
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(10):
    for x, y in loader:
        opt.zero_grad()
        loss = random.uniform(0.5, 1.0) * F.cross_entropy(model(x), y)  # a randomly weighted real loss trains
        loss.backward()
        opt.step()
    opt.zero_grad()
    loss = torch.tensor(2.0 * 0.9 ** epoch + 0.05 * random.random(), requires_grad=True)  # expect: placeholder-loop
    loss.backward()
    opt.step()
'''})
    report = check_project(tmp_path, SLUG)
    jitter = next(f for f in report.findings if f.path == "jitter.py" and f.rule == "placeholder-loop")
    assert "is made of loop counters (epoch), not of model outputs" in jitter.message  # a decay plus a draw


def test_a_loop_calling_a_placeholder_epoch_is_reported_once_at_the_inner_loop(tmp_path):
    write_project(tmp_path, {"train.py": HEAD + '''

def train_one_epoch(model, loader):
    for x, y in loader:  # expect: placeholder-loop
        logits = model(x)


def main():
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(20):
        train_one_epoch(model, loader)
    optimizer.step()


main()
'''})
    check_project(tmp_path, SLUG)


def test_aliases(tmp_path):
    write_project(tmp_path, {"train.py": '''
import time as tm

import torch as T
from torch import optim as O

net = T.nn.Linear(3, 1)
sgd = O.SGD(net.parameters(), lr=0.1)  # expect: placeholder-loop
x, y = T.load("x.pt"), T.load("y.pt")
for it in range(100):
    T.nn.functional.mse_loss(net(x), y).backward()
for ep in range(3):  # expect: placeholder-loop
    tm.sleep(0.1)
'''})
    check_project(tmp_path, SLUG)


def test_placeholder_loop_in_a_notebook_cell(tmp_path):
    (tmp_path / "train.ipynb").write_text(notebook([
        "import torch\nmodel = torch.nn.Linear(4, 2)\nopt = torch.optim.Adam(model.parameters())",
        "# training\nfor epoch in range(20):\n    print('epoch', epoch)",
    ]))
    hits = [f for f in audit(tmp_path).findings if f.rule == "placeholder-loop"]
    assert [(f.path, f.location.cell, f.location.cell_line) for f in hits] == [("train.ipynb", 1, 2)]


LEGIT = {
    "plain-loop": HEAD + '''
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
running_loss = 0.0
for epoch in range(10):
    for i, (x, y) in enumerate(loader):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
        avg_loss = running_loss / (i + 1)
    kl_weight = min(1.0, epoch / 10)
''',
    "gradient-accumulation": HEAD + '''
optimizer = torch.optim.Adam(model.parameters())
accum = 4
for epoch in range(3):
    for i, (x, y) in enumerate(loader):
        loss = F.cross_entropy(model(x), y) / accum
        loss.backward()
        if (i + 1) % accum == 0:
            optimizer.step()
            optimizer.zero_grad()
''',
    "lbfgs-closure": HEAD + '''

def train(x, y, epochs=20):
    opt = torch.optim.LBFGS(model.parameters())

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    for epoch in range(epochs):
        opt.step(closure)
''',
    "amp-scaler-and-helpers": HEAD + '''

def train_epoch(model, loader, optimizer, scaler):
    for x, y in loader:
        with torch.autocast("cpu"):
            loss = F.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


@torch.no_grad()
def evaluate(model, loader):
    for epoch_batch in loader:
        model(epoch_batch[0])


def main():
    optimizer = torch.optim.AdamW(model.parameters())
    scaler = torch.amp.GradScaler()
    for epoch in range(10):
        train_epoch(model, loader, optimizer, scaler)
        evaluate(model, loader)
''',
    "optimizer-returned-by-a-builder": HEAD + '''

def build_optimizer(model):
    opt = torch.optim.Adam(model.parameters())
    return opt


def fit(model, steps):
    optim = build_optimizer(model)
    for step in range(steps):
        optim.zero_grad()
        F.mse_loss(model(torch.load("x.pt")), torch.load("y.pt")).backward()
        optim.step()
''',
    "lightning-automatic-optimization": '''
import lightning.pytorch as pl
import torch


class Model(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        return torch.nn.functional.mse_loss(self.net(batch[0]), batch[1])

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters())
        return optimizer


for fold in range(5):
    pl.Trainer(max_epochs=3).fit(Model(), torch.load("fold.pt"))
''',
    "hf-trainer": '''
import torch
from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

model = AutoModelForCausalLM.from_pretrained("gpt2")
optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
trainer = Trainer(model=model, args=TrainingArguments("out"), train_dataset=torch.load("ds.pt"),
                  optimizers=(optimizer, None))
trainer.train()
''',
    "class-attribute-optimizer-and-global-one": HEAD + '''
global_opt = torch.optim.SGD(model.parameters(), lr=0.1)


class Trainer:
    def __init__(self, model):
        self.model = model
        self.optimizer = torch.optim.Adam(model.parameters())

    def train(self, epochs):
        for epoch in range(epochs):
            for x, y in loader:
                self.optimizer.zero_grad()
                F.cross_entropy(self.model(x), y).backward()
                self.optimizer.step()


def finetune(epochs=2):
    for epoch in range(epochs):
        for x, y in loader:
            F.cross_entropy(model(x), y).backward()
            global_opt.step()
''',
    "manual-sgd-and-deepspeed-engine": HEAD + '''
lr = 0.01
for epoch in range(10):
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
                p.grad = None


def train_ds(engine, steps):
    for step in range(steps):
        loss = engine(torch.load("batch.pt"))
        engine.backward(loss)
        engine.step()
''',
    "non-training-loops": HEAD + '''
optimizer = torch.optim.Adam(model.parameters())


def make_dataset(n_steps):
    rows = []
    for step in range(n_steps):
        rows.append(torch.load(f"shard_{step}.pt"))
    return rows


@torch.no_grad()
def validate(model, epochs_seen):
    for x, y in loader:
        model(x)


def sample(model, steps=50):
    x = torch.load("noise.pt")
    for step in range(steps):
        x = model(x)
    return x


with torch.no_grad():
    for epoch_ckpt in range(3):
        model.load_state_dict(torch.load(f"ckpt_{epoch_ckpt}.pt"))

for epoch in range(5):
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
''',
}


@pytest.mark.parametrize("name", sorted(LEGIT))
def test_real_training_and_non_training_loops_are_silent(tmp_path, name):
    write_project(tmp_path, {"train.py": LEGIT[name]})
    assert found(audit(tmp_path), SLUG) == set()


# -------------------------------------------------------------------------------------------- fixture corpus
BAD_DIR = FIXTURES / "bad" / "placeholder-loop"
LEGIT_DIRS = sorted(p for p in (FIXTURES / "legit").iterdir() if p.is_dir()) if (FIXTURES / "legit").is_dir() else []


@pytest.mark.skipif(not BAD_DIR.is_dir(), reason="no placeholder-loop fixture yet")
def test_bad_fixture_matches_its_markers():
    assert markers(BAD_DIR, SLUG)
    check_project(BAD_DIR, SLUG)


@pytest.mark.parametrize("project", LEGIT_DIRS, ids=[p.name for p in LEGIT_DIRS])
def test_legit_fixture_has_no_placeholder_loop(project):
    assert found(audit(project), SLUG) == set()


def test_a_final_loop_over_held_out_data_is_evaluation_not_a_placeholder(tmp_path):
    """The shape of Hugging Face's run_glue_no_trainer.py: after training, `model.eval()` and a loop over the
    mismatched validation set, without torch.no_grad(), in the function that builds the optimizer."""
    write_project(tmp_path, {"train.py": HEAD + '''

def main(num_epochs=3):
    eval_dataloader = DataLoader(datasets.MNIST("data", train=False, transform=transforms.ToTensor()))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for epoch in range(num_epochs):
        model.train()
        for step, (x, y) in enumerate(loader):
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    model.eval()
    for step, (x, y) in enumerate(eval_dataloader):
        predictions = model(x).argmax(dim=-1)
        print((predictions == y).float().mean().item())


main()
'''})
    check_project(tmp_path, SLUG)
    assert markers(tmp_path, SLUG) == set()


def test_the_same_final_loop_over_training_data_is_a_placeholder(tmp_path):
    write_project(tmp_path, {"train.py": HEAD + '''

def main(num_epochs=3):
    train_dataloader = loader
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for epoch in range(num_epochs):  # expect: placeholder-loop
        for step, (x, y) in enumerate(train_dataloader):
            predictions = model(x).argmax(dim=-1)
            print((predictions == y).float().mean().item())
    optimizer.step()


main()
'''})
    check_project(tmp_path, SLUG)


MAE_ENGINE = {
    "engine.py": """
        import torch.nn.functional as F


        def train_one_epoch(model, data_loader, optimizer, epoch, loss_scaler):
            model.train()
            for data_iter_step, (samples, targets) in enumerate(data_loader):  {marker}
                loss = F.cross_entropy(model(samples), targets)
                optimizer.zero_grad()
                loss_scaler(loss, optimizer, parameters=model.parameters())
    """,
    "util/misc.py": """
        import torch


        class NativeScalerWithGradNormCount:
            def __init__(self):
                self._scaler = torch.cuda.amp.GradScaler()
                self.seen = []

            def __call__(self, loss, optimizer, parameters=None):
                {body}
    """,
    "main.py": """
        import torch
        from torch.utils.data import DataLoader
        from torchvision import datasets, transforms

        from engine import train_one_epoch
        from util.misc import NativeScalerWithGradNormCount as NativeScaler

        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        loader = DataLoader(datasets.MNIST("data", transform=transforms.ToTensor()), batch_size=64)
        loss_scaler = NativeScaler()
        for epoch in range(10):
            train_one_epoch(model, loader, optimizer, epoch, loss_scaler)
    """,
}


def test_loss_scaler_object_that_runs_backward_and_step_trains_the_loop(tmp_path):
    """MAE's engine: `loss_scaler(loss, optimizer)` calls an object whose __call__ scales, backpropagates and
    steps; the loop was reported as a placeholder because no name led there."""
    body = "self._scaler.scale(loss).backward()\n                self._scaler.step(optimizer)"
    write_project(tmp_path, {k: v.format(marker="", body=body) for k, v in MAE_ENGINE.items()})
    check_project(tmp_path, SLUG)


def test_loss_scaler_object_that_only_records_the_loss_is_a_placeholder(tmp_path):
    write_project(tmp_path, {k: v.format(marker="# expect: placeholder-loop", body="self.seen.append(loss.item())")
                             for k, v in MAE_ENGINE.items()})
    check_project(tmp_path, SLUG)


DEIT = {
    "engine.py": """
        import torch.nn.functional as F


        def train_one_epoch(model, data_loader, optimizer, loss_scaler):
            for samples, targets in data_loader:  {marker}
                loss = F.cross_entropy(model(samples), targets)
                optimizer.zero_grad()
                loss_scaler(loss, optimizer)
    """,
    "main.py": """
        import torch
        from timm.utils import {helper}
        from torch.utils.data import DataLoader
        from torchvision import datasets, transforms

        from engine import train_one_epoch

        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        loader = DataLoader(datasets.MNIST("data", transform=transforms.ToTensor()), batch_size=64)
        for epoch in range(10):
            train_one_epoch(model, loader, optimizer, {helper}())
    """,
}


def test_timm_loss_scaler_handed_to_the_engine_trains_the_loop(tmp_path):
    """DeiT and ConvNeXt build timm's NativeScaler in main.py and call it in engine.py: backward and step."""
    write_project(tmp_path, {k: v.format(marker="", helper="NativeScaler") for k, v in DEIT.items()})
    report = check_project(tmp_path, SLUG)
    # The training path finds the engine's loop too (it was "no training code found"): this toy has no
    # evaluation, so missing-metrics reports it there.
    assert found(report, {"missing-metrics"}) == {("missing-metrics", "engine.py", 5)}


def test_another_timm_helper_called_with_the_loss_does_not_train(tmp_path):
    write_project(tmp_path, {k: v.format(marker="# expect: placeholder-loop", helper="AverageMeter")
                             for k, v in DEIT.items()})
    check_project(tmp_path, SLUG)


PREPARE = HEAD + """

def {name}(pair_batch):
    pair_batch.sort(key=len, reverse=True)
    inputs, outputs = [], []
    for pair in pair_batch:{marker}
        inputs.append(pair[0])
        outputs.append(pair[1])
    return inputs, outputs
"""


def test_a_function_named_for_training_data_prepares_it(tmp_path):
    """pytorch/tutorials' chatbot: `batch2TrainData(voc, pair_batch)` loops over the pairs of a batch to build
    tensors; its name holds "train", and the loop was reported as a training loop that never steps."""
    write_project(tmp_path, {"chatbot.py": PREPARE.format(name="batch2TrainData", marker="")})
    check_project(tmp_path, SLUG)


def test_a_function_named_for_training_on_a_batch_is_judged(tmp_path):
    write_project(tmp_path, {"chatbot.py": PREPARE.format(name="train_batch", marker="  # expect: placeholder-loop")})
    check_project(tmp_path, SLUG)


DENOISING_GROUP = HEAD + """

def get_denoising_training_group(targets, num_classes, max_gt):
    batch_size = len(targets)
    labels = torch.full([batch_size, max_gt], num_classes)
    for i in range({bound}):{marker}
        labels[i, :len(targets[i])] = targets[i]
    return labels
"""


def test_a_loop_over_the_items_of_one_batch_builds_it(tmp_path):
    """transformers' RT-DETR: `get_contrastive_denoising_training_group` fills its query tensors with
    `for i in range(batch_size)`; "training" and "batch" made it look like a training loop that never steps."""
    write_project(tmp_path, {"detr.py": DENOISING_GROUP.format(bound="batch_size", marker="")})
    check_project(tmp_path, SLUG)


def test_a_loop_striding_over_batches_in_a_training_function_is_judged(tmp_path):
    write_project(tmp_path, {"detr.py": DENOISING_GROUP.format(bound="0, len(targets), batch_size",
                                                               marker="  # expect: placeholder-loop")})
    check_project(tmp_path, SLUG)


SCORE_SDE = {
    "losses.py": """
        def optimization_manager(lr):
            def optimize_fn(optimizer, params, step):
                for g in optimizer.param_groups:
                    g["lr"] = lr * min(step / 1000, 1.0)
                optimizer.step()

            return optimize_fn


        def get_step_fn(loss_fn, train, optimize_fn=None):
            def step_fn(state, batch):
                model, optimizer = state["model"], state["optimizer"]
                {body}
                return loss

            return step_fn
    """,
    "run_lib.py": """
        import torch

        import losses


        def train(model, train_iter, n_iters):
            state = {{"model": model, "optimizer": torch.optim.Adam(model.parameters()), "step": 0}}
            optimize_fn = losses.optimization_manager(2e-4)
            train_step_fn = losses.get_step_fn(lambda m, b: m(b).pow(2).mean(), train=True, optimize_fn=optimize_fn)
            for step in range(n_iters):  {marker}
                batch = next(train_iter).float()
                loss = train_step_fn(state, batch)
                print(step, loss.item())
    """,
}


def test_step_function_made_by_a_factory_trains_the_loop(tmp_path):
    """score_sde_pytorch: the loop calls train_step_fn, a closure losses.get_step_fn returns; it backpropagates
    and hands the optimizer to optimize_fn, a closure of optimization_manager bound through the factory's call."""
    body = ("optimizer.zero_grad()\n                loss = loss_fn(model, batch)\n                loss.backward()\n"
            "                optimize_fn(optimizer, model.parameters(), step=state['step'])")
    write_project(tmp_path, {k: v.format(marker="", body=body) for k, v in SCORE_SDE.items()})
    check_project(tmp_path, SLUG)


def test_step_function_made_by_a_factory_that_only_evaluates_is_a_placeholder(tmp_path):
    body = "loss = loss_fn(model, batch)"
    write_project(tmp_path, {k: v.format(marker="# expect: placeholder-loop", body=body) for k, v in SCORE_SDE.items()})
    check_project(tmp_path, SLUG)


GRAD_STEPS = '''
"""MAML on sine tasks read from a file, and a Langevin sampler for an energy model's negatives."""
import numpy as np
import torch
import torch.nn.functional as F


def forward(weights, x):
    return F.linear(F.relu(F.linear(x, weights[0], weights[1])), weights[2], weights[3])


def adapt(weights, x, y, inner_steps=5, inner_lr=0.01):
    fast = list(weights)
    for step in range(inner_steps):{marker}
        loss = F.mse_loss(forward(fast, x), y)
        grads = torch.autograd.grad(loss, fast, create_graph=True)
        {update}
    return fast


def langevin(weights, x, steps=20, step_size=10.0):
    x = x.detach().requires_grad_(True)
    for _ in range(steps):
        grad = torch.autograd.grad(forward(weights, x).sum(), x)[0]
        x = (x - step_size * grad + 0.005 * torch.randn_like(x)).clamp(0, 1).detach().requires_grad_(True)
    return x.detach()


def main():
    data = np.load("tasks.npz")
    xs, ys = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
    weights = [torch.randn(40, 1, requires_grad=True), torch.zeros(40, requires_grad=True),
               torch.randn(1, 40, requires_grad=True), torch.zeros(1, requires_grad=True)]
    meta_opt = torch.optim.Adam(weights, lr=1e-3)
    for epoch in range(100):
        for t in range(len(xs) - 10):
            fast = adapt(weights, xs[t][:10], ys[t][:10])
            negatives = langevin(weights, torch.rand_like(xs[t][10:]))
            loss = F.mse_loss(forward(fast, xs[t][10:]), ys[t][10:]) + forward(weights, negatives).mean()
            meta_opt.zero_grad()
            loss.backward()
            meta_opt.step()
        with torch.no_grad():
            val = [F.mse_loss(forward(weights, xs[t]), ys[t]) for t in range(len(xs) - 10, len(xs))]
        print(epoch, "validation mse", torch.stack(val).mean().item())


if __name__ == "__main__":
    main()
'''


@pytest.mark.parametrize("update", [
    "fast = [w - inner_lr * g for w, g in zip(fast, grads)]",
    "with torch.no_grad():\n            for w, g in zip(fast, grads):\n                w -= inner_lr * g",
], ids=["rebound", "in-place"])
def test_placeholder_loop_silent_on_steps_taken_with_the_gradients_autograd_grad_returns(tmp_path, update):
    """MAML's inner loop and a Langevin sampler update with the gradients `torch.autograd.grad` returns
    (`w - lr * g`, `x - step * grad`): no optimizer and no `.grad` in place, yet every step is taken."""
    write_project(tmp_path, {"maml.py": GRAD_STEPS.format(marker="", update=update)})
    check_project(tmp_path, SLUG)


@pytest.mark.parametrize("update", ["print(step, [g.norm() for g in grads])",
                                    "penalty = (grads[0].norm() - 1) ** 2"], ids=["printed", "penalty"])
def test_placeholder_loop_fires_on_gradients_taken_and_never_applied(tmp_path, update):
    """Gradients printed, or a value computed from them (a gradient penalty), update no tensor."""
    write_project(tmp_path, {"maml.py": GRAD_STEPS.format(marker="  # expect: placeholder-loop", update=update)})
    check_project(tmp_path, SLUG)


# The start of the MNIST scripts below: imports and an honest evaluation.
MNIST_HELPERS = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


def evaluate(model, loader):
    with torch.no_grad():
        return sum((model(x).argmax(1) == y).sum().item() for x, y in loader) / len(loader.dataset)
'''
CUT_LOSS = MNIST_HELPERS + '''

def main():
    tf = transforms.ToTensor()
    train = DataLoader(datasets.MNIST("data", train=True, download=True, transform=tf), batch_size=64)
    test = DataLoader(datasets.MNIST("data", train=False, transform=tf), batch_size=256)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for epoch in range(10):
        for x, y in train:
            x.requires_grad = True
            out = model(x)
            {loss}
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(epoch, evaluate(model, test))


if __name__ == "__main__":
    main()
'''


@pytest.mark.parametrize("loss", [
    "loss = torch.tensor(F.cross_entropy(out, y).item(), requires_grad=True)  # expect: placeholder-loop",
    "loss = F.mse_loss(out.argmax(1).float(), y.float())\n"
    "            loss.requires_grad = True  # expect: placeholder-loop",
    "loss = F.cross_entropy(out, y).detach().requires_grad_()  # expect: placeholder-loop",
    "loss = torch.tensor(F.cross_entropy(out, y).item(), requires_grad=True); loss.backward()  # expect: "
    "placeholder-loop",
], ids=["rebuilt-from-item", "requires-grad-forced", "detached-then-marked", "one-line"])
def test_placeholder_loop_fires_on_a_loss_cut_from_the_model(tmp_path, loss):
    """The usual 'fix' for "element 0 of tensors does not require grad": the loss is made a new leaf, so
    backward() reaches no parameter and every step changes nothing."""
    write_project(tmp_path, {"train.py": CUT_LOSS.format(loss=loss)})
    check_project(tmp_path, SLUG)


@pytest.mark.parametrize("loss", [
    "loss = torch.tensor(0.0, requires_grad=True)\n            loss = loss + F.cross_entropy(out, y)",
    "loss = F.cross_entropy(out, y).requires_grad_()",
    "total = torch.tensor(F.cross_entropy(out, y).item(), requires_grad=True)\n"
    "            loss = F.cross_entropy(out, y)",
    "loss = F.cross_entropy(out, y).cpu().requires_grad_()",
], ids=["accumulator", "marked-but-connected", "copy-beside-the-loss", "moved-then-marked"])
def test_placeholder_loop_silent_on_losses_still_connected_to_the_model(tmp_path, loss):
    write_project(tmp_path, {"train.py": CUT_LOSS.format(loss=loss)})
    check_project(tmp_path, SLUG)


BESIDE = MNIST_HELPERS + '''

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU())
        self.head = nn.Linear(256, 10)

    def forward(self, x):
        return self.head(self.body(x))


def main():
    tf = transforms.ToTensor()
    train = DataLoader(datasets.MNIST("data", train=True, download=True, transform=tf), batch_size=64)
    test = DataLoader(datasets.MNIST("data", train=False, transform=tf), batch_size=256)
    model = Net()
    probe = nn.Linear(256, 10)
    opt = torch.optim.SGD({params}, lr=0.01){marker}
    for epoch in range(10):
        for x, y in train:
            loss = F.cross_entropy({forward}, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(epoch, evaluate(model, test))


if __name__ == "__main__":
    main()
'''


def test_placeholder_loop_fires_on_an_optimizer_of_a_module_the_loop_never_runs(tmp_path):
    """The loss comes from Net, the optimizer holds another module's parameters: every step leaves Net as built."""
    write_project(tmp_path, {"train.py": BESIDE.format(params="probe.parameters()", forward="model(x)",
                                                       marker="  # expect: placeholder-loop")})
    check_project(tmp_path, SLUG)


@pytest.mark.parametrize("params, forward", [
    ("probe.parameters()", "probe(model.body(x).detach())"),  # a linear probe on a frozen network
    ("model.head.parameters()", "model(x)"),  # fine-tuning the head only
    ("list(model.parameters()) + list(probe.parameters())", "model(x)"),
], ids=["linear-probe", "head-only", "both"])
def test_placeholder_loop_silent_when_the_optimizer_holds_what_the_loop_runs(tmp_path, params, forward):
    write_project(tmp_path, {"train.py": BESIDE.format(params=params, forward=forward, marker="")})
    check_project(tmp_path, SLUG)


GLOBALS = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

loader = DataLoader(datasets.MNIST("data", train=True, download=True, transform=transforms.ToTensor()), batch_size=64)
policy_net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
probe = nn.Linear(784, 10)
criterion = nn.SmoothL1Loss()
optimizer = torch.optim.RMSprop({params}.parameters()){marker}


def optimize_model(x, y):
    loss = criterion(policy_net(x), F.one_hot(y, 10).float())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


for x, y in loader:
    print(optimize_model(x, y))
'''


@pytest.mark.parametrize("params, marker", [("policy_net", ""), ("probe", "  # expect: placeholder-loop")],
                         ids=["steps-the-global-it-runs", "steps-another-global"])
def test_placeholder_loop_reads_the_globals_a_step_function_uses(tmp_path, params, marker):
    """The PyTorch DQN tutorial: `optimize_model()` runs the module-level `policy_net`, which the module-level
    optimizer holds (the loss module beside it trains nothing)."""
    write_project(tmp_path, {"train.py": GLOBALS.format(params=params, marker=marker)})
    check_project(tmp_path, SLUG)


ONE_PASS = MNIST_HELPERS + '''

def main(max_steps=1000):
    tf = transforms.ToTensor()
    train = DataLoader(datasets.MNIST("data", train=True, download=True, transform=tf), batch_size=64)
    test = DataLoader(datasets.MNIST("data", train=False, transform=tf), batch_size=256)
    sample, _ = next(iter(train))
    for sample, _ in train:
        break
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for epoch in range(10):
        for step, (x, y) in enumerate(train):{marker}
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            {stop}
        print(epoch, evaluate(model, test))


if __name__ == "__main__":
    main()
'''


def test_placeholder_loop_fires_on_a_training_loop_that_breaks_after_its_first_step(tmp_path):
    """A debugging `break` left in: each epoch trains on one batch."""
    write_project(tmp_path, {"train.py": ONE_PASS.format(marker="  # expect: placeholder-loop", stop="break")})
    check_project(tmp_path, SLUG)


RETRY = """for attempt in range(3):  # retry the step after freeing memory
                try:
                    loss = F.cross_entropy(model(x), y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                except torch.cuda.OutOfMemoryError:
                    torch.cuda.empty_cache()
                    continue
                break"""


@pytest.mark.parametrize("stop", ["if step >= max_steps:\n                break", "continue", RETRY],
                         ids=["budget", "continue", "retry"])
def test_placeholder_loop_silent_on_a_break_under_a_condition(tmp_path, stop):
    """A step budget stops the loop when it is spent; the sample fetched with `for ...: break` trains nothing."""
    write_project(tmp_path, {"train.py": ONE_PASS.format(marker="", stop=stop)})
    check_project(tmp_path, SLUG)


WRAPPED = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


class Diffusion(nn.Module):
    """Wraps the network it trains: the loss noises a batch and asks the network for the noise."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        noise = torch.randn_like(x)
        return F.mse_loss(self.net(x + noise), noise)


def main():
    loader = DataLoader(datasets.MNIST("data", download=True, transform=transforms.ToTensor()), batch_size=64)
    unet = nn.Sequential(nn.Flatten(), nn.Linear(784, 784), nn.Unflatten(1, (1, 28, 28)))
    backbone, head = nn.Sequential(nn.Flatten(), nn.Linear(784, 64)), nn.Linear(64, 10)
    {build}
    for epoch in range(5):
        for x, y in loader:
            {loss}
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            print(epoch, loss.item(), (head(backbone(x)).argmax(1) == y).float().mean().item())


if __name__ == "__main__":
    main()
'''


@pytest.mark.parametrize("build, loss", [
    ("diffusion = Diffusion(unet)\n    opt = torch.optim.Adam(unet.parameters())", "loss = diffusion(x)"),
    ("model = nn.Sequential(backbone, head)\n    opt = torch.optim.SGD(model.parameters(), lr=0.1)",
     "loss = F.cross_entropy(head(backbone(x)), y)"),
], ids=["wrapped-in-what-the-loop-runs", "holding-what-the-loop-runs"])
def test_placeholder_loop_silent_on_an_optimizer_of_modules_wrapped_or_held(tmp_path, build, loss):
    """lucidrains' shape: `Adam(unet.parameters())` while the loop runs `diffusion = GaussianDiffusion(unet)`; or
    an optimizer of `nn.Sequential(backbone, head)` while the loop runs its parts."""
    write_project(tmp_path, {"train.py": WRAPPED.format(build=build, loss=loss)})
    check_project(tmp_path, SLUG)


TEMPLATE_TRAINER = {
    "base/__init__.py": "from .base_trainer import *\n",
    "base/base_trainer.py": '''
from abc import abstractmethod


class BaseTrainer:
    def __init__(self, model, optimizer, epochs):
        self.model, self.optimizer, self.epochs = model, optimizer, epochs

    @abstractmethod
    def _train_epoch(self, epoch):
        raise NotImplementedError

    def train(self):
        for epoch in range(1, self.epochs + 1):
            print(epoch, self._train_epoch(epoch))
''',
    "trainer/__init__.py": "from .trainer import *\n",
    "trainer/trainer.py": '''
import torch
import torch.nn.functional as F

from base import BaseTrainer


class Trainer(BaseTrainer):
    def __init__(self, model, optimizer, epochs, loader, valid_loader):
        super().__init__(model, optimizer, epochs)
        self.loader, self.valid_loader = loader, valid_loader

    def _train_epoch(self, epoch):
        for x, y in self.loader:{marker}
            loss = F.cross_entropy(self.model(x), y)
            {update}
        return {{"loss": loss.item(), **self._valid_epoch()}}

    @torch.no_grad()
    def _valid_epoch(self):
        correct = sum((self.model(x).argmax(1) == y).sum().item() for x, y in self.valid_loader)
        return {{"val_accuracy": correct / len(self.valid_loader.dataset)}}
''',
    "train.py": '''
import torch
from torch.utils.data import DataLoader

from trainer import Trainer

model = torch.nn.Linear(10, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
train, val = torch.load("train.pt"), torch.load("val.pt")
Trainer(model, optimizer, 20, DataLoader(train, batch_size=64), DataLoader(val, batch_size=256)).train()
''',
}


def test_a_base_trainer_loop_reaches_the_epoch_each_subclass_defines(tmp_path):
    """pytorch-template: `BaseTrainer.train` calls the abstract `self._train_epoch`, which `Trainer` (re-exported
    by `from .trainer import *`) defines. The call reached only the base's `raise NotImplementedError`, and the
    star re-export hid the subclass: placeholder-loop and missing-metrics fired on a sound project."""
    update = "self.optimizer.zero_grad()\n            loss.backward()\n            self.optimizer.step()"
    good = write_project(tmp_path / "good", {k: v.format(marker="", update=update) if "{marker}" in v else v
                                             for k, v in TEMPLATE_TRAINER.items()})
    report = audit(good)
    assert report.verdict.value == "valid", report.findings
    # The close bad case: the subclass's epoch never updates; reported once, at its loop.
    bad = write_project(tmp_path / "bad", {k: v.format(marker="  # expect: placeholder-loop", update="pass")
                                           if "{marker}" in v else v for k, v in TEMPLATE_TRAINER.items()})
    check_project(bad, SLUG)


NESTED_UPDATE = HEAD + '''

def train(epochs=10):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def update(x, y):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        {update}
        return loss.item()

    for epoch in range(epochs):{marker}
        for x, y in loader:
            update(x, y)


train()
'''


def test_a_loop_calling_an_update_defined_inside_its_function_trains(tmp_path):
    """Spinning Up defines `update()` inside `ppo()` and calls it from the epoch loop: nested definitions are not
    indexed, and only those handed on as arguments were read, so the loop 'never reached backward'."""
    good = write_project(tmp_path / "good", {"train.py": NESTED_UPDATE.format(
        update="loss.backward()\n        optimizer.step()", marker="")})
    check_project(good, SLUG)
    bad = write_project(tmp_path / "bad", {"train.py": NESTED_UPDATE.format(
        update="pass", marker="  # expect: placeholder-loop")})
    check_project(bad, SLUG)


STEP_METHOD_TRAINER = HEAD + '''

class Trainer:
    def __init__(self, model):
        self.model = model
        self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train_step(self, x, y):
        self.optimizer.zero_grad()
        loss = F.cross_entropy(self.model(x), y)
        {backward}
        self.optimizer.step()
        return loss.item()

    def fit(self):
        for epoch in range(10):{marker}
            for x, y in loader:
                self.train_step(x, y)


Trainer(model).fit()
'''


def test_a_train_step_method_of_the_project_is_followed_not_taken_for_a_framework_delegate(tmp_path):
    """`trainer.train_step(batch)` hands training to a framework (Keras); `self.train_step(x, y)` is the class's
    own method, and one without backward trains nothing. It counted as delegated training."""
    good = write_project(tmp_path / "good", {"train.py": STEP_METHOD_TRAINER.format(backward="loss.backward()",
                                                                                   marker="")})
    check_project(good, SLUG)
    bad = write_project(tmp_path / "bad", {"train.py": STEP_METHOD_TRAINER.format(
        backward="pass", marker="  # expect: placeholder-loop")})
    check_project(bad, SLUG)


OVERRIDDEN_UPDATE = HEAD + '''

class BaseTrainer:
    def __init__(self, model):
        self.model = model

    def _update(self, optimizer, loss):
        raise NotImplementedError

    def fit(self):
        optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1){marker}
        for x, y in loader:
            self._update(optimizer, F.cross_entropy(self.model(x), y))


class Trainer(BaseTrainer):
    def _update(self, opt, loss):
        opt.zero_grad()
        loss.backward()
        {step}


Trainer(model).fit()
'''


def test_an_optimizer_handed_to_an_overridden_method_is_followed_into_the_override(tmp_path):
    """The base's `_update` raises NotImplementedError; the subclass's steps. Only the base's was read, so the
    optimizer was 'never stepped'."""
    good = write_project(tmp_path / "good", {"train.py": OVERRIDDEN_UPDATE.format(step="opt.step()", marker="")})
    check_project(good, SLUG)
    bad = write_project(tmp_path / "bad", {"train.py": OVERRIDDEN_UPDATE.format(
        step="pass", marker="  # expect: placeholder-loop")})
    check_project(bad, SLUG)


def test_a_keras_model_calling_its_inherited_train_on_batch_delegates(tmp_path):
    """Only `self.train_step(...)` is the project's own method; `self.train_on_batch(...)` of a Keras model is
    inherited from the framework, which trains."""
    write_project(tmp_path, {"train.py": '''
import numpy as np
from tensorflow import keras


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(10)

    def call(self, x):
        return self.dense(x)

    def fit_epochs(self, x, y, epochs):
        for epoch in range(epochs):
            self.train_on_batch(x, y)


net = Net()
net.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
net.fit_epochs(np.load("x.npy"), np.load("y.npy"), 10)
'''})
    check_project(tmp_path, SLUG)


LOSS_HOOKS = {
    "hf.py": '''
import torch
from transformers import Trainer


class MyTrainer(Trainer):
    def compute_loss(self, model, inputs, return_outputs=False, **kwargs):
        outputs = model(**inputs)
        loss = {hf_loss}
        return (loss, outputs) if return_outputs else loss
''',
    "lit.py": '''
import lightning.pytorch as pl
import torch
import torch.nn.functional as F


class Lit(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(8, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.tensor(0.0, requires_grad=True){lit_marker}
        {lit_accumulate}
        return {{"loss": loss}}

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters())
''',
}


def test_a_constant_loss_returned_to_the_framework_that_backpropagates_it_is_fake(tmp_path):
    """Hugging Face's Trainer backpropagates what `compute_loss` returns, Lightning what `training_step` returns:
    a constant tensor returned there is a fake loss though no `.backward()` is in sight."""
    bad = write_project(tmp_path / "bad", {k: v.format(
        hf_loss="torch.tensor(0.5, requires_grad=True)  # expect: placeholder-loop",
        lit_marker="  # expect: placeholder-loop", lit_accumulate="pass") for k, v in LOSS_HOOKS.items()})
    check_project(bad, SLUG)
    good = write_project(tmp_path / "good", {k: v.format(
        hf_loss="outputs.loss", lit_marker="", lit_accumulate="loss = loss + F.mse_loss(self.net(x), y)")
        for k, v in LOSS_HOOKS.items()})
    check_project(good, SLUG)


LEARNER = """
import torch
import torch.nn as nn


class Learner:
    def __init__(self):
        self.net = nn.Linear(10, 2)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3){marker}

    def update(self, x, y):
        loss = nn.functional.cross_entropy(self.net(x), y)
        {update}
        return loss.item()

    @torch.no_grad()
    def accuracy(self, x, y):
        return (self.net(x).argmax(1) == y).float().mean().item()
"""
LEARNER_LOOP = """
import torch
from torch.utils.data import DataLoader, TensorDataset
from agent import Learner


def train(learner, loader, val, epochs=20):
    for epoch in range(epochs):{marker}
        for x, y in loader:
            learner.update(x, y)
        print(epoch, learner.accuracy(val["x"], val["y"]))


if __name__ == "__main__":
    data = torch.load("data/train.pt")
    loader = DataLoader(TensorDataset(data["x"], data["y"]), batch_size=64, shuffle=True)
    train(Learner(), loader, torch.load("data/val.pt"))
"""


@pytest.mark.parametrize(("update", "marker"), [
    ("self.opt.zero_grad(); loss.backward(); self.opt.step()", ""),
    ("print(loss.item())", "  # expect: placeholder-loop"),
])
def test_a_loop_calling_a_method_of_the_object_its_caller_passes(tmp_path, update, marker):
    """`learner.update(x, y)` on a parameter: the method of the class the callers pass runs backward and step."""
    write_project(tmp_path, {"agent.py": LEARNER.format(update=update, marker=marker),
                             "train.py": LEARNER_LOOP.format(marker=marker)})
    check_project(tmp_path, SLUG)


DYNAMIC_LOSS = """
import torch.nn.functional as F


class GANLoss:
    def __init__(self, G, D):
        self.G = G
        self.D = D

    def accumulate_gradients(self, phase, real_img, gen_z):
        if phase == "G":
            loss = F.softplus(-self.D(self.G(gen_z)))
        else:
            loss = F.softplus(self.D(self.G(gen_z).detach())) + F.softplus(-self.D(real_img))
        {end}
"""
DYNAMIC_LOOP = """
import importlib
import torch
from torchvision.utils import save_image
from networks import Generator, Discriminator


def main(loss_class="loss.GANLoss", data="data/"):
    G, D = Generator(), Discriminator()
    module, name = loss_class.rsplit(".", 1)
    loss = getattr(importlib.import_module(module), name)(G, D)
    opts = {{"G": torch.optim.Adam(G.parameters()), "D": torch.optim.Adam(D.parameters())}}
    loader = torch.utils.data.DataLoader(torch.load(data + "images.pt"), batch_size=32)
    for epoch in range(10):{marker}
        for real in loader:
            for phase, opt in opts.items():
                opt.zero_grad()
                loss.accumulate_gradients(phase, real, torch.randn(32, 64))
                opt.step()
        with torch.no_grad():
            save_image(G(torch.randn(16, 64)), f"fakes_{{epoch}}.png")


if __name__ == "__main__":
    main()
"""
GAN_NETWORKS = """
import torch.nn as nn


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 784), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(-1, 1, 28, 28)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 1))

    def forward(self, x):
        return self.net(x)
"""


@pytest.mark.parametrize(("end", "marker"), [
    ("loss.mean().backward()", ""),
    ("return loss.mean()", "  # expect: placeholder-loop"),
])
def test_a_method_of_an_object_built_from_a_class_name_in_a_config(tmp_path, end, marker):
    """StyleGAN2-ADA builds its loss with `construct_class_by_name`: no call resolves the object, so the project's
    methods of that name are what the loop may run; it trains only if one of them backpropagates."""
    write_project(tmp_path, {"loss.py": DYNAMIC_LOSS.format(end=end), "networks.py": GAN_NETWORKS,
                             "train.py": DYNAMIC_LOOP.format(marker=marker)})
    check_project(tmp_path, SLUG)


AUTOGRAD_LOOP = """
import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms, models


def train_one_epoch(model, loader, criterion, optimizer):
    model.train()
    total = 0.0
    for images, labels in loader:
{step}
        total += loss.item()
    return total / len(loader)


@torch.no_grad()
def evaluate(model, loader):
    model.eval()
    return sum((model(x).argmax(1) == y).sum().item() for x, y in loader) / len(loader.dataset)


def main():
    tf = transforms.Compose([transforms.Resize(224), transforms.ToTensor()])
    train_loader = DataLoader(datasets.ImageFolder("data/train", tf), batch_size=32, shuffle=True)
    val_loader = DataLoader(datasets.ImageFolder("data/val", tf), batch_size=64)
    model = models.resnet50(num_classes=5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for epoch in range(20):
        loss = train_one_epoch(model, train_loader, nn.CrossEntropyLoss(), optimizer)
        print(epoch, loss, evaluate(model, val_loader))


if __name__ == "__main__":
    main()
"""
STEPS = {
    # the forward under no_grad, the loss then marked to silence "element 0 of tensors does not require grad"
    "marked": """
        with torch.no_grad():
            outputs = model(images)
        loss = criterion(outputs, labels)
        loss.requires_grad_(True)  # expect: placeholder-loop
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()""",
    "marked-but-connected": """
        outputs = model(images)
        loss = criterion(outputs, labels)
        loss.requires_grad_(True)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()""",
    "whole-step-without-autograd": """
        with torch.no_grad():
            loss = criterion(model(images), labels)
            optimizer.zero_grad()
            loss.backward()  # expect: placeholder-loop
            optimizer.step()""",
    "autograd-back-on-for-backward": """
        with torch.no_grad():
            loss = criterion(model(images), labels)
            with torch.enable_grad():
                loss = criterion(model(images), labels)
                optimizer.zero_grad()
                loss.backward()
            optimizer.step()""",
    "grad-enabled-by-phase": """
        with torch.set_grad_enabled(model.training):
            loss = criterion(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()""",
    "cleared-before-the-step": """
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.zero_grad()  # expect: placeholder-loop
        optimizer.step()""",
    "cleared-then-a-closure-recomputes": """
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.zero_grad()
        optimizer.step(lambda: criterion(model(images), labels))""",
    "cleared-first": """
        loss = criterion(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()""",
}


@pytest.mark.parametrize("step", STEPS)
def test_steps_that_apply_no_gradient_and_their_working_twins(tmp_path, step):
    """A forward run under no_grad, a whole step under it, and gradients cleared between backward() and step():
    each trains nothing (the first two leave backward nothing to reach, the third steps with zeroed gradients)."""
    write_project(tmp_path, {"train.py": AUTOGRAD_LOOP.format(step=textwrap.indent(
        textwrap.dedent(STEPS[step]).strip("\n"), " " * 8))})
    check_project(tmp_path, SLUG)


EPOCH_LOSS = '''
import numpy as np
import torch
import torch.nn.functional as F
from transformers import Trainer


class WeightedTrainer(Trainer):
    def compute_loss(self, model, inputs, return_outputs=False, **kwargs):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        epoch = self.state.epoch or 0.0
{loss}
        return (loss, outputs) if return_outputs else loss
'''


@pytest.mark.parametrize("loss", [
    # a decay of the trainer's epoch counter, returned to the Trainer that backpropagates it
    "        loss = torch.tensor(0.7 * np.exp(-0.3 * epoch) + 0.05, requires_grad=True)  # expect: placeholder-loop",
    # the close legitimate case: the counter only schedules a weight on the real loss
    "        weight = min(1.0, epoch / 5)\n        loss = weight * F.cross_entropy(outputs.logits, labels)",
])
def test_a_loss_made_of_the_trainers_epoch_counter(tmp_path, loss):
    """`epoch = self.state.epoch or 0.0`: a name bound to a framework's counter counts as one."""
    write_project(tmp_path, {"train.py": EPOCH_LOSS.format(loss=loss)})
    check_project(tmp_path, SLUG)


def test_a_method_of_a_builtin_container_is_not_a_project_method_of_that_name(tmp_path):
    """`history.update({...})` on `history = {}`: Flow knows nothing of the dict, yet its update() is not
    Agent.update, which trains; the fake epoch loop is still reported."""
    write_project(tmp_path, {
        "agent.py": LEARNER.format(update="self.opt.zero_grad(); loss.backward(); self.opt.step()", marker=""),
        "train.py": """
            import json
            import torch
            from agent import Learner

            def train(epochs=100):
                learner = Learner()
                history = {}
                for epoch in range(epochs):  # expect: placeholder-loop
                    history.update({"epoch": epoch, "loss": 1.0 / (epoch + 1)})
                torch.save(learner.net.state_dict(), "model.pt")
                json.dump(history, open("history.json", "w"))

            if __name__ == "__main__":
                train()
        """})
    check_project(tmp_path, SLUG)


@pytest.mark.parametrize("params", ["[torch.zeros(1, requires_grad=True)]", "[torch.randn(10).requires_grad_()]"],
                         ids=["zeros", "random"])
def test_placeholder_loop_fires_on_an_optimizer_of_a_made_up_tensor_beside_the_model(tmp_path, params):
    """The loss comes from Net; the optimizer steps a tensor made on the spot, which nothing reads."""
    write_project(tmp_path, {"train.py": BESIDE.format(params=params, forward="model(x)",
                                                       marker="  # expect: placeholder-loop")})
    check_project(tmp_path, SLUG)


TENSOR_WEIGHTS = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

loader = DataLoader(datasets.MNIST("data", train=True, download=True, transform=transforms.ToTensor()), batch_size=64)
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
model.load_state_dict(torch.load("pretrained.pt"))
scale = torch.ones(1, requires_grad=True)
w = torch.zeros(784, 10, requires_grad=True)
opt = torch.optim.SGD({params}, lr={lr}){marker}
for epoch in range(10):
    for x, y in loader:
        loss = F.cross_entropy({logits}, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(epoch, loss.item())
'''


@pytest.mark.parametrize("params, lr, logits, marker", [
    ("[scale]", "0.01", "model(x)", "  # expect: placeholder-loop"),  # a tensor nothing reads
    ("[scale]", "0.01", "model(x) / scale", ""),  # temperature scaling of a trained model
    ("[w]", "0.1", "x.flatten(1) @ w", ""),  # a model written as a weight tensor
    ("model.parameters()", "0.0", "model(x)", "  # expect: placeholder-loop"),  # a zero learning rate
    ("model.parameters()", "0", "model(x)", "  # expect: placeholder-loop"),
    ("model.parameters()", "0.1", "model(x)", ""),
], ids=["unread-tensor", "temperature", "weight-tensor", "zero-lr", "zero-lr-int", "real-lr"])
def test_placeholder_loop_on_optimizers_that_move_nothing_the_loss_reads(tmp_path, params, lr, logits, marker):
    write_project(tmp_path, {"train.py": TENSOR_WEIGHTS.format(params=params, lr=lr, logits=logits, marker=marker)})
    check_project(tmp_path, SLUG)


@pytest.mark.parametrize(("sets_lr", "trains"), [
    ("sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=1000)", True),
    ("sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 10, eta_min=1e-4)", True),
    ("for group in opt.param_groups:\n    group['lr'] = 1e-3", True),
    ("adjust_learning_rate(opt, 0)", True),
    ("opt.load_state_dict(torch.load('last.pt')['optimizer'])", True),
    # schedulers that scale the base rate keep zero at zero
    ("sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, step / 1000) * 3e-4)", False),
    ("sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 10)", False),
    ("sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, 10, 2)", False),  # 2 is T_mult
    ("print(opt.param_groups[0]['lr'])", False),  # reading the rate sets nothing
    ("for group in opt.param_groups:\n    group.update(lr=1e-3)", True),
], ids=["one-cycle", "cosine-floor", "param-groups", "helper", "resumed", "lambda-warmup", "cosine-to-zero",
        "warm-restarts-multiplier", "rate-read", "group-update"])
def test_placeholder_loop_on_a_zero_learning_rate_and_what_raises_it(tmp_path, sets_lr, trains):
    marker = "" if trains else "  # expect: placeholder-loop"
    code = TENSOR_WEIGHTS.format(params="model.parameters()", lr="0.0", logits="model(x)", marker=marker)
    code = code.replace("for epoch in range(10):", f"{sets_lr}\nfor epoch in range(10):")
    files = {"train.py": ("from helpers import adjust_learning_rate\n" if "adjust" in sets_lr else "") + code}
    if "adjust" in sets_lr:
        files["helpers.py"] = "def adjust_learning_rate(opt, epoch):\n    return epoch\n"
    write_project(tmp_path, files)
    check_project(tmp_path, SLUG)


def test_placeholder_loop_silent_on_a_zero_default_rate_under_groups_of_their_own(tmp_path):
    params = "[{'params': model[1].weight, 'lr': 1e-2}, {'params': model[1].bias, 'lr': 1e-1}]"
    write_project(tmp_path, {"train.py": TENSOR_WEIGHTS.format(params=params, lr="0.0", logits="model(x)", marker="")})
    check_project(tmp_path, SLUG)


def test_placeholder_loop_silent_on_weight_tensors_handed_over_in_a_list(tmp_path):
    """`params = [w]; SGD(params)` while the loss reads `w`: the list hands the tensor on, the loop uses it."""
    code = TENSOR_WEIGHTS.format(params="params", lr="0.1", logits="x.flatten(1) @ w", marker="")
    write_project(tmp_path, {"train.py": code.replace("opt = torch.optim", "params = [w]\nopt = torch.optim")})
    check_project(tmp_path, SLUG)


@pytest.mark.parametrize("shape", ["list-read-by-index", "made-over-several-lines"])
def test_placeholder_loop_silent_on_weight_tensors_used_through_a_list_or_made_over_lines(tmp_path, shape):
    if shape == "list-read-by-index":
        code = TENSOR_WEIGHTS.format(params="[w]", lr="0.1", logits="x.flatten(1) @ head[0]", marker="")
        code = code.replace("opt = torch.optim", "head = [w]\nopt = torch.optim")
    else:
        code = TENSOR_WEIGHTS.format(params="params", lr="0.1", logits="x.flatten(1) @ w", marker="")
        code = code.replace("w = torch.zeros(784, 10, requires_grad=True)",
                            "w = torch.nn.init.xavier_uniform_(\n    torch.zeros(784, 10, requires_grad=True)\n)")
        code = code.replace("opt = torch.optim", "params = [w]\nopt = torch.optim")
    write_project(tmp_path, {"train.py": code})
    check_project(tmp_path, SLUG)
