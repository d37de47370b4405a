"""stub-implementation: stubs on the training path or named by the spec fire; unused, abstract, overridden do not."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from harness import check_project, found, markers, write_project

from trainaudit import audit

FIXTURES = Path(__file__).parent.parent / "fixtures"
SLUG = "stub-implementation"

TRAIN = """
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader
    from data import ClipDataset, augment
    from models import Net

    def train_epoch(model, loader, opt):
        for x, y in loader:
            x = augment(x)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    def main():
        model = Net()
        opt = torch.optim.Adam(model.parameters())
        loader = DataLoader(ClipDataset("clips/"), batch_size=8)
        for _ in range(3):
            train_epoch(model, loader, opt)

    if __name__ == "__main__":
        main()
"""


def test_stubs_on_the_training_path_fire_at_their_def_line(tmp_path):
    root = write_project(tmp_path, {
        "train.py": TRAIN,
        "data.py": """
            from torch.utils.data import Dataset

            class ClipDataset(Dataset):
                def __init__(self, root):
                    self.root = root

                def __len__(self):
                    return 100

                def __getitem__(self, idx):  # expect: stub-implementation
                    raise NotImplementedError("load the clip")

            def augment(x):  # expect: stub-implementation
                # TODO: time masking
                return x
        """,
        "models.py": """
            import torch.nn as nn

            class Encoder(nn.Module):  # expect: stub-implementation
                pass

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.encoder = Encoder()
                    self.head = nn.Linear(8, 2)

                def forward(self, x):
                    return self.head(self.pool(self.encoder(x)))

                def pool(self, h):  # expect: stub-implementation
                    ...
        """,
    })
    report = check_project(root, {SLUG})
    getitem = next(f for f in report.findings if f.rule == SLUG and "__getitem__" in f.message)
    assert "raise NotImplementedError" in getitem.message
    assert "main (train.py:" in getitem.message and "ClipDataset" in getitem.message
    assert getitem.evidence["path"][0].startswith("train.py:")


def test_stubs_reached_through_methods_lightning_and_the_spec(tmp_path):
    root = write_project(tmp_path, {
        "trainaudit.toml": 'model = "models.Transformer"\ndata = "corpus.Corpus"\n',
        "corpus.py": """
            class Corpus:  # expect: stub-implementation
                '''Token stream read from the shards.'''
        """,
        "lit.py": """
            import lightning as L
            import torch
            import torch.nn as nn

            class LitClassifier(L.LightningModule):
                def __init__(self):
                    super().__init__()
                    self.net = nn.Linear(4, 2)

                def compute_loss(self, batch):  # expect: stub-implementation
                    '''Cross-entropy with label smoothing.'''

                def training_step(self, batch, idx):
                    return self.compute_loss(batch)

                def configure_optimizers(self):
                    return torch.optim.Adam(self.parameters())

            if __name__ == "__main__":
                L.Trainer(max_epochs=1).fit(LitClassifier())
        """,
        "loop.py": """
            import torch
            from vae import VAE

            def run(data):
                model = VAE()
                opt = torch.optim.Adam(model.parameters())
                for x in data:
                    z = model.encode(x)
                    loss = (z ** 2).mean()
                    loss.backward()
                    opt.step()
        """,
        "vae.py": """
            import torch.nn as nn

            class VAE(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 4)

                def forward(self, x):
                    return self.fc(x)

                def encode(self, x):  # expect: stub-implementation
                    raise NotImplementedError
        """,
        "models.py": """
            import torch.nn as nn

            class Transformer(nn.Module):
                def __init__(self):
                    super().__init__()

                def forward(self, x):  # expect: stub-implementation
                    pass
        """,
    })
    report = check_project(root, {SLUG})
    spec = next(f for f in report.findings if f.rule == SLUG and f.path == "models.py")
    assert spec.evidence["path"][0].startswith("models.py:")


def test_abstract_protocol_overridden_init_hooks_and_unused_stubs_are_silent(tmp_path):
    root = write_project(tmp_path, {
        "train.py": TRAIN,
        "data.py": """
            from abc import ABC, abstractmethod
            from typing import Protocol

            from torch.utils.data import Dataset

            class Transform(Protocol):
                def __call__(self, x): ...

            class BaseClips(Dataset, ABC):
                @abstractmethod
                def load(self, idx):
                    raise NotImplementedError

                def decode(self, raw):
                    raise NotImplementedError

                def __getitem__(self, idx):
                    self.log_stats(idx)
                    return self.decode(self.load(idx))

                def log_stats(self, idx):
                    pass

                def on_epoch_end(self):
                    pass

            class VerboseClips(BaseClips):
                def log_stats(self, idx):
                    print("item", idx)

            class ClipDataset(BaseClips):
                def __init__(self, root):
                    pass

                def __len__(self):
                    return 10

                def load(self, idx):
                    return open(f"clip{idx}.bin", "rb").read()

                def decode(self, raw):
                    return raw[:16], 0

            def augment(x):
                return x.flip(-1)
        """,
        "models.py": """
            import torch.nn as nn

            class Base(nn.Module):
                def forward(self, x):
                    raise NotImplementedError

            class Net(Base):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 2)

                def forward(self, x):
                    return self.fc(x)

            class Unused(Base):
                def forward(self, x):
                    return x
        """,
        "utils.py": """
            def export_onnx(model):
                raise NotImplementedError

            def plot_curves(history):
                pass
        """,
    })
    report = check_project(root, {SLUG})
    assert not found(report, {SLUG})


def test_base_stub_reached_when_an_instantiated_subclass_does_not_override_it(tmp_path):
    root = write_project(tmp_path, {
        "train.py": TRAIN,
        "data.py": """
            from torch.utils.data import Dataset

            class BaseClips(Dataset):
                def decode(self, raw):  # expect: stub-implementation
                    raise NotImplementedError

                def __getitem__(self, idx):
                    return self.decode(open(f"clip{idx}.bin", "rb").read())

            class ClipDataset(BaseClips):
                def __init__(self, root):
                    self.root = root

                def __len__(self):
                    return 10

            def augment(x):
                return x
        """,
        "models.py": """
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 2)

                def forward(self, x):
                    return self.fc(x)
        """,
    })
    check_project(root, {SLUG})


ACTOR_CRITIC = """
    import torch.nn as nn
    from torch.distributions import Categorical

    class Policy(nn.Module):
        def __init__(self, obs_dim, n_actions):
            super().__init__()
            self.actor = nn.Linear(obs_dim, n_actions)
            self.critic = nn.Linear(obs_dim, 1)

        def forward(self, x):  # {mark}
            raise NotImplementedError

        def act(self, x):
            dist = Categorical(logits=self.actor(x))
            action = dist.sample()
            return self.critic(x), action, dist.log_prob(action)

        def evaluate_actions(self, x, action):
            dist = Categorical(logits={logits})
            return self.critic(x), dist.log_prob(action), dist.entropy().mean()
"""
ROLLOUTS = """
    import gym
    import torch
    from model import Policy

    def update(policy, opt, obs, actions, returns):
        values, logp, entropy = policy.evaluate_actions(obs, actions)
        loss = -(logp * (returns - values.detach())).mean() + (returns - values).pow(2).mean() - 0.01 * entropy
        opt.zero_grad()
        loss.backward()
        opt.step()

    def main():
        env = gym.make("CartPole-v1")
        policy = Policy(4, 2)
        opt = torch.optim.Adam(policy.parameters(), lr=1e-3)
        for _ in range(1000):
            obs, _ = env.reset()
            xs, acts, rews, done = [], [], [], False
            while not done:
                x = torch.as_tensor(obs, dtype=torch.float32)
                with torch.no_grad():
                    _, action, _ = policy.act(x)
                xs.append(x)
                acts.append(action)
                obs, reward, term, trunc, _ = env.step(action.item())
                rews.append(reward)
                done = term or trunc
            returns = torch.tensor([sum(rews[i:]) for i in range(len(rews))])
            update(policy, opt, torch.stack(xs), torch.stack(acts), returns)
            print("episode reward", sum(rews))

    if __name__ == "__main__":
        main()
"""


@pytest.mark.parametrize(("logits", "mark"), [
    ("self.actor(x)", "used only through act() and evaluate_actions(): never called"),
    ("self(x)", "expect: stub-implementation"),  # evaluate_actions calls the stub through the instance
])
def test_a_forward_that_raises_is_a_stub_only_when_an_instance_is_called(tmp_path, logits, mark):
    """ikostrikov's a2c-ppo-acktr: Policy.forward raises NotImplementedError on purpose, the class being used
    through act() and evaluate_actions(); the same forward called as `self(x)` is a stub the training runs."""
    root = write_project(tmp_path, {"model.py": ACTOR_CRITIC.format(logits=logits, mark=mark), "train.py": ROLLOUTS})
    check_project(root, {SLUG})


def test_a_forward_that_raises_fires_when_the_training_calls_the_model(tmp_path):
    rollouts = ROLLOUTS.replace("policy.evaluate_actions(obs, actions)", "policy(obs)")
    root = write_project(tmp_path, {
        "model.py": ACTOR_CRITIC.format(logits="self.actor(x)", mark="expect: stub-implementation"),
        "train.py": rollouts})
    check_project(root, {SLUG})


META = """
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Meta(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(10, 5)
            self.meta_optim = torch.optim.Adam(self.net.parameters(), lr=1e-3)

        def forward(self, x, y):
            loss = F.cross_entropy(self.net(x), y)
            self.meta_optim.zero_grad()
            loss.backward()
            self.meta_optim.step()
            with torch.no_grad():
                return (self.net(x).argmax(1) == y).float().mean().item()

    def main():  # {mark}
        pass

    if __name__ == "__main__":
        main()
"""
META_TRAIN = """
    import numpy as np
    import torch
    from meta import {names}

    def run():
        data = np.load("data/train.npz")
        x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
        maml = Meta()
        for step in range(1000):
            idx = torch.randint(0, len(x), (64,))
            acc = maml(x[idx], y[idx])
            if step % 100 == 0:
                print("step", step, "training acc", acc)
        {tail}

    if __name__ == "__main__":
        run()
"""


@pytest.mark.parametrize(("files", "mark"), [
    # MAML-Pytorch: train.py imports Meta from meta.py, whose script block runs an empty main()
    ({"train.py": META_TRAIN.format(names="Meta", tail="")}, "a library's script block"),
    ({}, "expect: stub-implementation"),  # meta.py alone: running it is the training, and main() does nothing
    ({"train.py": META_TRAIN.format(names="Meta, main", tail="main()")}, "expect: stub-implementation"),
])
def test_a_stub_main_under_the_main_guard_of_an_imported_module(tmp_path, files, mark):
    root = write_project(tmp_path, {"meta.py": META.format(mark=mark), **files})
    check_project(root, {SLUG})


def test_stub_in_a_notebook_is_located_by_cell(tmp_path):
    cells = [
        """
        import torch
        import torch.nn.functional as F

        def normalise(x):
            raise NotImplementedError
        """,
        """
        model = torch.nn.Linear(4, 2)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in torch.load("batches.pt"):
            loss = F.cross_entropy(model(normalise(x)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        """,
    ]
    doc = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
           "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                      "source": textwrap.dedent(c).strip("\n")} for c in cells]}
    (tmp_path / "train.ipynb").write_text(json.dumps(doc), encoding="utf-8")
    report = audit(tmp_path, select=[SLUG])
    hits = [(f.path, f.location.cell, f.location.cell_line) for f in report.findings if f.rule == SLUG]
    assert hits == [("train.ipynb", 0, 4)]


BAD = FIXTURES / "bad" / SLUG
LEGIT = sorted(p for p in (FIXTURES / "legit").iterdir() if p.is_dir()) if (FIXTURES / "legit").is_dir() else []


@pytest.mark.skipif(not BAD.is_dir(), reason="no stub-implementation fixture in the corpus yet")
def test_bad_fixture_matches_its_markers():
    expected = markers(BAD, {SLUG})
    assert expected
    assert found(audit(BAD), {SLUG}) == expected


@pytest.mark.parametrize("project", LEGIT, ids=[p.name for p in LEGIT])
def test_legit_fixtures_have_no_stub_finding(project):
    assert found(audit(project), {SLUG}) == set()
