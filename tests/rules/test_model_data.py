"""placeholder-model and synthetic-data: fire on stand-ins and random batches, silent on the close legit cases."""

from __future__ import annotations

import textwrap

import pytest
from harness import check_project, found, write_project

from trainaudit import audit

MODELS = """
    import torch.nn as nn

    class FooNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(x)
"""

def joined(*parts: str) -> str:
    """Dedent each part on its own, so snippets written at different indents can be joined."""
    return "".join(textwrap.dedent(p).lstrip("\n") for p in parts)


LOADER_LOOP = """
    for x, y in loader:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
"""


def test_placeholder_model_without_spec_fires_on_stand_in_defined_in_script(tmp_path):
    write_project(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/models.py": MODELS,
        "train.py": joined("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F
            from pkg.data import loader

            class SimpleFooNet(nn.Module):
                \"\"\"Simplified version for a quick run.\"\"\"
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 2)

                def forward(self, x):
                    return self.fc(x)

            model = SimpleFooNet()
            opt = torch.optim.SGD(model.parameters(), lr=0.1)  # expect: placeholder-model
        """, LOADER_LOOP),
    })
    report = check_project(tmp_path, {"placeholder-model"})
    f = next(f for f in report.findings if f.rule == "placeholder-model")  # other rules may fire too
    assert f.evidence["counterpart"] == "pkg.models.FooNet"
    assert "name word 'simple'" in f.evidence["signals"]


def test_placeholder_model_silent_when_real_model_is_trained(tmp_path):
    write_project(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/models.py": MODELS,
        "train.py": joined("""
            import torch
            import torch.nn.functional as F
            from pkg.models import FooNet
            from pkg.data import loader

            model = FooNet()
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
        """, LOADER_LOOP),
    })
    check_project(tmp_path, {"placeholder-model"})


STANDIN_BY_DOCSTRING = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from pkg.data import loader
    from pkg.models import FooNet


    class {name}(nn.Module):
        \"\"\"{doc}\"\"\"

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(x)


    model = {name}()
    opt = torch.optim.SGD(model.parameters(), lr=0.1){marker}
    {also}
"""


@pytest.mark.parametrize(("name", "doc", "signals"), [
    ("SimpleCNN", "Simplified stand-in for the FooNet so training runs.",
     ["name word 'simple'", "docstring says 'simplified'", "docstring says 'stand-in'"]),
    ("SmallFooNet", "Smaller, faster variant so the run finishes on a laptop.",
     ["name word 'small'", "docstring says 'smaller'"]),
], ids=["simplified", "smaller"])
def test_placeholder_model_without_spec_fires_on_a_stand_in_whose_docstring_names_the_real_class(
        tmp_path, name, doc, signals):
    """`SimpleCNN`, "a simplified stand-in for the FooNet so training runs quickly": the two names share nothing
    to strip, the docstring says which class it replaces. `SmallFooNet` strips to FooNet."""
    write_project(tmp_path, {"pkg/__init__.py": "", "pkg/models.py": MODELS, "train.py": joined(
        STANDIN_BY_DOCSTRING.format(name=name, doc=doc, marker="  # expect: placeholder-model", also=""),
        LOADER_LOOP)})
    report = check_project(tmp_path, {"placeholder-model"})
    f = next(f for f in report.findings if f.rule == "placeholder-model")
    assert f.evidence["counterpart"] == "pkg.models.FooNet"
    assert f.evidence["signals"] == [*signals, "defined in the training script"]


@pytest.mark.parametrize(("name", "doc", "also"), [
    # a distilled student beside its trained teacher
    ("TinyFooNet", "A tiny student distilled from FooNet.",
     "teacher_opt = torch.optim.SGD(FooNet().parameters(), lr=0.1)"),
    # a distilled student beside its frozen teacher, loaded from a checkpoint
    ("TinyFooNet", "A tiny student distilled from FooNet.",
     'teacher = FooNet().eval(); teacher.load_state_dict(torch.load("teacher.pt"))'),
    # a model that names another without saying it replaces it
    ("ProbeCNN", "A linear probe on FooNet features.", ""),
    # a model zoo's entry compared with another in its docstring: smaller, not a stand-in
    ("MobileCNN", "A small model, 30x smaller than FooNet.", ""),
], ids=["trained-teacher", "frozen-teacher", "no-stand-in-words", "smaller-than"])
def test_placeholder_model_without_spec_silent_when_the_named_class_is_trained_or_not_replaced(tmp_path, name, doc,
                                                                                                also):
    write_project(tmp_path, {"pkg/__init__.py": "", "pkg/models.py": MODELS, "train.py": joined(
        STANDIN_BY_DOCSTRING.format(name=name, doc=doc, marker="", also=also), LOADER_LOOP)})
    check_project(tmp_path, {"placeholder-model"})


def test_placeholder_model_with_spec_names_required_class(tmp_path):
    write_project(tmp_path, {
        "trainaudit.toml": 'model = "pkg.models.FooNet"\n',
        "pkg/__init__.py": "",
        "pkg/models.py": joined(MODELS, """
    class Baseline(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 2)
"""),
        "train.py": joined("""
            import torch as T
            import torch.nn.functional as F
            from pkg import models as M
            from pkg.data import loader

            model = M.Baseline()
            opt = T.optim.Adam(model.parameters())  # expect: placeholder-model
        """, LOADER_LOOP),
    })
    report = check_project(tmp_path, {"placeholder-model"})
    f = next(f for f in report.findings if f.rule == "placeholder-model")
    assert f.evidence["required_defined_at"] == ["pkg/models.py:3"]
    assert "Baseline" in f.message and "FooNet" in f.message


def test_placeholder_model_with_spec_accepts_subclass_and_wrapper(tmp_path):
    write_project(tmp_path, {
        "trainaudit.toml": 'model = "FooNet"\n',
        "pkg/__init__.py": "",
        "pkg/models.py": joined(MODELS, """
    class BigFooNet(FooNet):
        pass

    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = FooNet()
"""),
        "train.py": joined("""
            import torch
            import torch.nn.functional as F
            from pkg.models import BigFooNet, Wrapped
            from pkg.data import loader

            model = BigFooNet()
            wrapper = Wrapped()
            opt = torch.optim.SGD(list(model.parameters()) + list(wrapper.parameters()), lr=0.1)
        """, LOADER_LOOP),
    })
    check_project(tmp_path, {"placeholder-model"})


BATCH_LOOP = """

    model = torch.nn.Linear(8, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(100):
        x = torch.from_numpy(make_batch(32))
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
"""


def test_synthetic_data_through_helper_in_other_module_with_alias(tmp_path):
    write_project(tmp_path, {
        "utils.py": """
            import numpy as N

            def make_batch(n):
                return N.random.rand(n, 8).astype("float32")  # expect: synthetic-data
        """,
        "train.py": joined("import torch\nfrom utils import make_batch\n", BATCH_LOOP),
    })
    report = check_project(tmp_path, {"synthetic-data"})
    finding = next(f for f in report.findings if f.rule == "synthetic-data")
    assert finding.evidence["random_sources"] == ["numpy.random.rand at utils.py:4 via utils.make_batch"]


STAR_TRAIN = joined("import torch\nfrom utils import *\nfrom datasets import *\n", BATCH_LOOP)


def test_synthetic_data_through_a_helper_imported_with_a_star(tmp_path):
    """PyTorch-GAN's scripts import their helpers with `from utils import *`: names so imported were left
    unresolved, and a random helper behind one went unseen."""
    write_project(tmp_path, {
        "utils.py": """
            import numpy as np

            def make_batch(n):
                return np.random.rand(n, 8).astype("float32")  # expect: synthetic-data
        """,
        "datasets.py": "import numpy as np\n",
        "train.py": STAR_TRAIN,
    })
    report = check_project(tmp_path, {"synthetic-data"})
    finding = next(f for f in report.findings if f.rule == "synthetic-data")
    assert finding.evidence["random_sources"] == ["numpy.random.rand at utils.py:4 via utils.make_batch"]


def test_star_imported_helper_that_reads_data_is_silent_and_the_last_star_wins(tmp_path):
    write_project(tmp_path, {
        "utils.py": """
            import numpy as np

            def make_batch(n):
                return np.random.rand(n, 8).astype("float32")
        """,
        "datasets.py": """
            import numpy as np

            def make_batch(n):
                return np.load("train.npy")[:n]
        """,
        "train.py": STAR_TRAIN,
    })
    check_project(tmp_path, {"synthetic-data"})


def test_synthetic_data_reaches_a_training_function_called_through_parentheses(tmp_path):
    # `(train)(x)` is a call of train: its call site gives the parameter its provenance.
    write_project(tmp_path, {"train.py": joined(MODELS, """
        import torch

        def train(data):
            model = FooNet()
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            for epoch in range(10):
                loss = model(data).sum()
                opt.zero_grad()
                loss.backward()
                opt.step()

        (train)(
            torch.randn(64, 8))  # expect: synthetic-data
    """)})
    check_project(tmp_path, {"synthetic-data"})


def test_synthetic_data_silent_on_diffusion_noise_and_gan_latents(tmp_path):
    write_project(tmp_path, {
        "train.py": """
            import torch
            import torch.nn.functional as F
            from torch.utils.data import DataLoader
            from torchvision.datasets import MNIST

            loader = DataLoader(MNIST("data", download=False), batch_size=64)
            net = torch.nn.Linear(784, 784)
            G = torch.nn.Linear(16, 784)
            D = torch.nn.Linear(784, 1)
            opt = torch.optim.Adam(net.parameters())
            opt_g = torch.optim.Adam(G.parameters())
            opt_d = torch.optim.Adam(D.parameters())
            for x0, _ in loader:
                x0 = x0.view(-1, 784)
                noise = torch.randn_like(x0)
                t = torch.rand(x0.size(0), 1)
                x_t = (1 - t).sqrt() * x0 + t.sqrt() * noise
                loss = F.mse_loss(net(x_t), noise)
                opt.zero_grad()
                loss.backward()
                opt.step()
                z = torch.randn(x0.size(0), 16)
                d_loss = F.softplus(D(G(z).detach())).mean() + F.softplus(-D(x0)).mean()
                opt_d.zero_grad()
                d_loss.backward()
                opt_d.step()
        """,
    })
    check_project(tmp_path, {"synthetic-data"})


def test_synthetic_data_silent_on_declared_generator_and_reports_unused_declared_source(tmp_path):
    gen = """
        import numpy as np

        class Generator:
            def sample(self, n):
                return np.random.normal(size=(n, 8)).astype("float32")
    """
    loop = """
        import numpy as np
        import torch
        from gen import Generator

        model = torch.nn.Linear(8, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        g = Generator()
        for step in range(10):
            x = torch.from_numpy({src})
            loss = model(x).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    """
    good = write_project(tmp_path / "good", {"trainaudit.toml": 'data = "gen.Generator"\n', "gen.py": gen,
                                            "train.py": loop.format(src="g.sample(32)")})
    check_project(good, {"synthetic-data"})
    bad = write_project(tmp_path / "bad", {"trainaudit.toml": 'data = "gen.Generator"\n', "gen.py": gen,
                                          "train.py": loop.format(src="np.load('x.npy')")})
    report = audit(bad)
    assert found(report, {"synthetic-data"}) == {("synthetic-data", "train.py", 8)}
    assert "never uses the declared data source Generator" in next(
        f.message for f in report.findings if f.rule == "synthetic-data")


def test_synthetic_data_silent_in_tests_and_on_random_indices_into_real_data(tmp_path):
    write_project(tmp_path, {
        "tests/test_model.py": """
            import torch
            model = torch.nn.Linear(8, 1)
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            loss = model(torch.randn(4, 8)).sum()
            loss.backward()
            opt.step()
        """,
        "train.py": """
            import numpy as np
            import torch

            data = np.memmap("train.bin", dtype=np.float32, mode="r")
            model = torch.nn.Linear(8, 1)
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            for it in range(100):
                ix = torch.randint(len(data) - 8, (32,))
                x = torch.stack([torch.from_numpy(data[i:i + 8]) for i in ix])
                loss = model(x).pow(2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        """,
    })
    check_project(tmp_path, {"synthetic-data"})


DQN = """
import random

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
{observe}

class QNet(nn.Module):
    def __init__(self, obs, actions):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs, 128), nn.ReLU(), nn.Linear(128, actions))

    def forward(self, x):
        return self.net(x)


class Replay:
    def __init__(self, size, obs):
        self.s = np.zeros((size, obs), np.float32)
        self.a = np.zeros(size, np.int64)
        self.r = np.zeros(size, np.float32)
        self.s2 = np.zeros((size, obs), np.float32)
        self.d = np.zeros(size, np.float32)
        self.n = 0
        self.size = size

    def add(self, s, a, r, s2, d):
        i = self.n % self.size
        self.s[i], self.a[i], self.r[i], self.s2[i], self.d[i] = s, a, r, s2, d
        self.n += 1

    def sample(self, batch):
        idx = np.random.randint(0, min(self.n, self.size), size=batch)
        return (torch.from_numpy(self.s[idx]), torch.from_numpy(self.a[idx]), torch.from_numpy(self.r[idx]),
                torch.from_numpy(self.s2[idx]), torch.from_numpy(self.d[idx]))


def main():
    env = gym.make("CartPole-v1")
    q, target = QNet(4, 2), QNet(4, 2)
    target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam(q.parameters(), lr=1e-3)
    buf = Replay(50_000, 4)
    eps, returns = 1.0, []
    for episode in range(500):
        {reset}
        done, total = False, 0.0
        while not done:
            if random.random() < eps:
                a = env.action_space.sample()
            else:
                with torch.no_grad():
                    a = int(q(torch.as_tensor(s)).argmax())
            {step}
            done = term or trunc
            buf.add(s, a, r, s2, float(term))
            s, total = s2, total + r
            if buf.n >= 1000:
                bs, ba, br, bs2, bd = buf.sample(64)
                with torch.no_grad():
                    y = br + 0.99 * (1 - bd) * target(bs2).max(1).values
                loss = F.smooth_l1_loss(q(bs).gather(1, ba[:, None]).squeeze(1), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        eps = max(0.05, eps * 0.99)
        returns.append(total)
        if episode % 10 == 0:
            target.load_state_dict(q.state_dict())
            print(episode, np.mean(returns[-10:]))


if __name__ == "__main__":
    main()
"""
RANDOM_STATES = """

def observe():
    return np.random.randn(4).astype(np.float32)  # expect: synthetic-data
"""


def test_synthetic_data_and_dummy_input_silent_on_a_replay_buffer_of_environment_steps(tmp_path):
    """A DQN: the buffer is allocated with np.zeros, filled in place from env.reset()/env.step(), and sampled at
    np.random.randint indices; the states are the environment's, selected at random, not made at random."""
    write_project(tmp_path, {"dqn.py": DQN.format(observe="", reset="s, _ = env.reset()",
                                                  step="s2, r, term, trunc, _ = env.step(a)")})
    check_project(tmp_path, {"synthetic-data", "dummy-input"})


def test_synthetic_data_fires_on_a_replay_buffer_filled_with_random_states(tmp_path):
    write_project(tmp_path, {"dqn.py": DQN.format(observe=RANDOM_STATES, reset="s = observe()",
                                                  step="s2, r, term, trunc = observe(), 1.0, False, False")})
    check_project(tmp_path, {"synthetic-data"})


def test_synthetic_data_from_a_dataset_names_each_generator(tmp_path):
    """A Dataset whose __getitem__ makes its images and labels with torch.randn and torch.randint, evaluated
    honestly: the finding sits in __getitem__ and names both generators."""
    write_project(tmp_path, {"train.py": '''
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset


class CellDataset(Dataset):
    """Microscopy cells (TODO: read the real images)."""

    def __init__(self, root, n=1000):
        self.root, self.n = root, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.randn(3, 64, 64), torch.randint(0, 4, ()).item()  # expect: synthetic-data


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


def evaluate(model, loader):
    model.eval()
    correct = n = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()
            n += len(y)
    return correct / n


def main():
    train = DataLoader(CellDataset("data/train"), batch_size=32, shuffle=True)
    val = DataLoader(CellDataset("data/val"), batch_size=32)
    model = Net()
    opt = torch.optim.Adam(model.parameters())
    for epoch in range(10):
        model.train()
        for x, y in train:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(epoch, evaluate(model, val))


if __name__ == "__main__":
    main()
'''})
    report = check_project(tmp_path, {"synthetic-data"})
    (f,) = [f for f in report.findings if f.rule == "synthetic-data"]
    assert "come from torch.randint and torch.randn, and no dataset feeds the loop" in f.message


PINN = '''
"""Physics-informed network for u'' = -pi^2 sin(pi x) on [0, 1], u(0) = u(1) = 0."""
import math

import torch
import torch.nn as nn
from torch import autograd


class PINN(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, width), nn.Tanh(), nn.Linear(width, 1))

    def forward(self, x):
        return self.net(x)


def residual(model, x):
    u = model(x)
    du = autograd.grad(u.sum(), x, create_graph=True)[0]
    d2u = autograd.grad(du.sum(), inputs=[x], create_graph=True)[0]
    return d2u + math.pi ** 2 * torch.sin(math.pi * x)


def main():
    model = PINN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    boundary = torch.tensor([[0.0], [1.0]])
    grid = torch.linspace(0, 1, 101).unsqueeze(1).requires_grad_(True)
    for step in range(5000):
        x = torch.rand(256, 1, requires_grad=True){marker}
        {loss}
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 500 == 0:
            with torch.no_grad():
                err = (model(grid) - torch.sin(math.pi * grid)).abs().max().item()
            print(f"step {{step}} loss {{loss.item():.3e}} max error {{err:.3e}}")


if __name__ == "__main__":
    main()
'''


def test_synthetic_data_silent_on_the_collocation_points_of_a_physics_informed_loss(tmp_path):
    """A PINN samples its inputs at random in the domain: the loss is the equation's residual, derivatives of the
    model with respect to those points (`autograd.grad(..., create_graph=True)`), in a helper or in the loop."""
    helper = "loss = residual(model, x).pow(2).mean() + model(boundary).pow(2).mean()"
    write_project(tmp_path, {
        "pinn.py": PINN.format(marker="", loss=helper),
        "inline.py": PINN.format(marker="", loss="u = model(x); du = autograd.grad(u.sum(), x, create_graph=True)[0]; "
                                 "loss = (du - math.pi * torch.cos(math.pi * x)).pow(2).mean()"),
    })
    check_project(tmp_path, {"synthetic-data"})


def test_synthetic_data_silent_on_initial_condition_points_beside_the_collocation_points(tmp_path):
    """Burgers' equation (found in review): the residual is taken at random (x, t) through a method, and the
    initial condition is fitted at random x0 against the known u(x, 0): both are points of the domain."""
    write_project(tmp_path, {"burgers.py": '''
import numpy as np
import torch
from torch import nn


class PINN:
    def __init__(self):
        self.net = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 1))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        self.nu = 0.01 / np.pi

    def net_f(self, x, t):
        u = self.net(torch.cat([x, t], dim=1))
        u_x = torch.autograd.grad(u, x, torch.ones_like(u), create_graph=True)[0]
        u_t = torch.autograd.grad(u, t, torch.ones_like(u), create_graph=True)[0]
        u_xx = torch.autograd.grad(u_x, x, torch.ones_like(u_x), create_graph=True)[0]
        return u_t + u * u_x - self.nu * u_xx

    def train(self, iters):
        for it in range(iters):
            x = torch.rand(2048, 1, requires_grad=True) * 2 - 1
            t = torch.rand(2048, 1, requires_grad=True)
            x0 = torch.rand(256, 1) * 2 - 1
            u0 = -torch.sin(np.pi * x0)
            f = self.net_f(x, t)
            loss = f.pow(2).mean() + (self.net(torch.cat([x0, torch.zeros_like(x0)], 1)) - u0).pow(2).mean()
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            if it % 100 == 0:
                print(it, loss.item(), f.abs().max().item())


if __name__ == "__main__":
    PINN().train(10000)
'''})
    check_project(tmp_path, {"synthetic-data"})


def test_synthetic_data_fires_on_random_points_fitted_beside_a_residual_taken_elsewhere(tmp_path):
    """The residual is taken on the fixed grid; the random points are fitted to random targets."""
    write_project(tmp_path, {"pinn.py": PINN.format(
        marker="  # expect: synthetic-data",
        loss="loss = (model(x) - torch.rand(256, 1)).pow(2).mean() + residual(model, grid).pow(2).mean()")})
    check_project(tmp_path, {"synthetic-data"})


LIBRARY_DATA = '''
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from datasets import Dataset
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


def evaluate(model, loader):
    with torch.no_grad():
        return sum((model(x).argmax(1) == y).sum().item() for x, y in loader) / len(loader.dataset)


def tabular(n):
    rows = Dataset.from_dict({{"x": {features}, "y": {labels}}}){tab_marker}
    return rows.with_format("torch")


def main():
    images = {images}{img_marker}
    train = DataLoader(images, batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for epoch in range(10):
        for x, y in train:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(epoch, evaluate(model, train))
    head = nn.Linear(16, 2)
    head_opt = torch.optim.SGD(head.parameters(), lr=0.1)
    for row in DataLoader(tabular(512), batch_size=32):
        loss = F.cross_entropy(head(row["x"]), row["y"])
        head_opt.zero_grad()
        loss.backward()
        head_opt.step()


if __name__ == "__main__":
    main()
'''


def test_synthetic_data_fires_on_library_stand_ins_for_a_dataset(tmp_path):
    """torchvision's FakeData makes random images; a Hugging Face Dataset built from random arrays holds them."""
    write_project(tmp_path, {"train.py": LIBRARY_DATA.format(
        features="np.random.randn(n, 16).astype(np.float32)", labels="np.random.randint(0, 2, n)",
        tab_marker="  # expect: synthetic-data",
        images="datasets.FakeData(size=5000, image_size=(3, 32, 32), transform=transforms.ToTensor())",
        img_marker="  # expect: synthetic-data")})
    check_project(tmp_path, {"synthetic-data"})


def test_synthetic_data_silent_on_the_real_datasets_in_their_place(tmp_path):
    write_project(tmp_path, {"train.py": LIBRARY_DATA.format(
        features='np.load("features.npy")[:n]', labels='np.load("labels.npy")[:n]', tab_marker="",
        images='datasets.CIFAR10("data", train=True, download=True, transform=transforms.ToTensor())', img_marker="")})
    check_project(tmp_path, {"synthetic-data"})


TRAINER_CLASSES = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset
    from torchvision import datasets, transforms


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(784, 10)

        def forward(self, x):
            return self.fc(x.flatten(1))


    class BaseTrainer:
        def __init__(self, model, loader):
            self.model = model
            self.loader = loader
            self.opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def train_step(self, x, y):
            raise NotImplementedError

        def fit(self, epochs):
            for epoch in range(epochs):
                for x, y in self.loader:
                    self.train_step(x, y)


    class ClassifierTrainer(BaseTrainer):
        def __init__(self, model):
            {init}

        def train_step(self, x, y):
            self.opt.zero_grad()
            loss = F.cross_entropy(self.model(x), y)
            loss.backward()
            self.opt.step()


    ClassifierTrainer(Net()).fit(3)
"""
RANDOM_SET = "TensorDataset(torch.randn(512, 784), torch.randint(0, 10, (512,)))"
MNIST_SET = 'datasets.MNIST("data", train=True, download=True, transform=transforms.ToTensor())'


def test_synthetic_data_reaches_a_step_method_through_self_super_and_a_base_class(tmp_path):
    """A base trainer's `fit` calls `self.train_step(x, y)`, which a subclass defines, over the loader the
    subclass hands to the base's `__init__`: those calls were not followed, and trainers written as classes
    audited valid on random batches."""
    for name, init in [
        ("super", "super().__init__(model, DataLoader({data}, batch_size=64)){marker}"),
        ("super2", "super(ClassifierTrainer, self).__init__(model, DataLoader({data}, batch_size=64)){marker}"),
        ("unbound", "BaseTrainer.__init__(self, model, DataLoader({data}, batch_size=64)){marker}"),
    ]:
        bad = write_project(tmp_path / name / "bad", {"train.py": TRAINER_CLASSES.format(
            init=init.format(data=RANDOM_SET, marker="  # expect: synthetic-data"))})
        check_project(bad, {"synthetic-data"})
        good = write_project(tmp_path / name / "good", {"train.py": TRAINER_CLASSES.format(
            init=init.format(data=MNIST_SET, marker=""))})
        check_project(good, {"synthetic-data"})


SELF_BATCHES = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms


    class Trainer:
        def __init__(self):
            self.model = nn.Linear(784, 10)
            self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1)
            data = datasets.MNIST("data", train=True, download=True, transform=transforms.ToTensor())
            self.batches = iter(DataLoader(data, batch_size=32))

        def get_batch(self):
            return {batch}

        def step(self, x, y):
            loss = F.cross_entropy(self.model(x), y)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()

        def train(self):
            for _ in range(100):
                x, y = self.get_batch()
                self.step(x.flatten(1), y)
            self.step({direct})


    Trainer().train()
"""


def test_synthetic_data_through_methods_called_on_self(tmp_path):
    bad = write_project(tmp_path / "bad", {"train.py": SELF_BATCHES.format(
        batch="torch.rand(32, 784), torch.randint(0, 10, (32,))  # expect: synthetic-data",
        direct="torch.randn(32, 784), torch.randint(0, 10, (32,))")})
    report = check_project(bad, {"synthetic-data"})
    finding = next(f for f in report.findings if f.rule == "synthetic-data")
    assert finding.evidence["random_sources"] == [  # only x reaches the model; `x, y = ...` binds both to each
        "torch.rand at train.py:16 via train.Trainer.get_batch",
        "torch.randint at train.py:16 via train.Trainer.get_batch", "torch.randn at train.py:28"]
    good = write_project(tmp_path / "good", {"train.py": SELF_BATCHES.format(
        batch="next(self.batches)", direct="*self.get_batch()")})
    check_project(good, {"synthetic-data"})


def _relay_chain(hops: int) -> str:
    """A trainer whose batch passes through `hops` methods, each handing it to the next through `self.`."""
    relays = "".join(f"    def relay{i}(self, x):\n        return self.relay{i + 1}(x)\n\n" for i in range(hops))
    return (
        "import torch\n\n\nclass Trainer:\n"
        "    def __init__(self):\n"
        "        self.model = torch.nn.Linear(8, 1)\n"
        "        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1)\n\n"
        f"{relays}"
        f"    def relay{hops}(self, x):\n"
        "        loss = self.model(x).pow(2).mean()\n"
        "        self.opt.zero_grad()\n"
        "        loss.backward()\n"
        "        self.opt.step()\n\n"
        "    def fit(self):\n"
        "        for _ in range(10):\n"
        "            self.relay0(torch.randn(4, 8))  # expect: synthetic-data\n\n\n"
        "Trainer().fit()\n"
    )


def test_a_batch_followed_through_self_calls_fires_and_a_chain_too_deep_to_follow_crashes_no_rule(tmp_path):
    """Following `self.method()` calls makes chains of callers as long as a library's (transformers: the
    interpreter's recursion limit). Summaries nest at most MAX_NESTED_SUMMARIES deep: deeper, the batch's origin is
    not followed, and no rule crashes."""
    from trainaudit.evidence.flow import MAX_NESTED_SUMMARIES

    near = write_project(tmp_path / "near", {"train.py": _relay_chain(10)})
    check_project(near, {"synthetic-data"})
    assert MAX_NESTED_SUMMARIES < 300
    far = write_project(tmp_path / "far", {"train.py": _relay_chain(300)})  # unbounded: RecursionError at ~210
    report = audit(far)
    assert [f.rule for f in report.findings if f.rule in ("rule-crash", "synthetic-data")] == []


SPLIT_GAN = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms


    def d_step(G, D, opt_d, real, z):
        loss = F.softplus(D(G(z).detach())).mean() + F.softplus(-D(real)).mean()
        opt_d.zero_grad()
        loss.backward()
        opt_d.step()


    def g_step(G, D, opt_g, z):
        loss = F.softplus(-D(G(z))).mean()
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()


    G = nn.Sequential(nn.Linear(16, 784), nn.Tanh())
    D = nn.Linear(784, 1)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4)
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4)
    loader = DataLoader(datasets.MNIST("data", download=True, transform=transforms.ToTensor()), batch_size=64)
    for epoch in range(5):
        for {batch}:
            z = torch.randn(64, 16){z_marker}
            d_step(G, D, opt_d, real.flatten(1), z)
            g_step(G, D, opt_g, z)
"""


def test_synthetic_data_silent_on_the_latents_of_a_generator_step_split_from_the_discriminator_step(tmp_path):
    """`g_step(z)` feeds its models nothing but latent codes: the real images reach the discriminator that judges
    G(z) in `d_step`. It was reported as trained on random batches."""
    good = write_project(tmp_path / "good", {"train.py": SPLIT_GAN.format(batch="real, _ in loader", z_marker="")})
    check_project(good, {"synthetic-data"})
    # The close bad case: the discriminator's "real" images are random too, and both steps are fed noise alone.
    bad = write_project(tmp_path / "bad", {"train.py": SPLIT_GAN.format(
        batch="real in torch.rand(100, 64, 1, 28, 28).unbind(0)", z_marker="  # expect: synthetic-data")})
    report = audit(bad)
    assert found(report, {"synthetic-data"}) == {("synthetic-data", "train.py", 28), ("synthetic-data", "train.py", 29)}


MODEL_HANDED_TO_A_METHOD = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F


    class Trainer:
        def __init__(self):
            self.model = nn.Linear(16, 4)
            self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1)
            self.features = torch.load("features.pt")
            self.labels = torch.load("labels.pt")

        def logits_of(self, model, x):
            return model(x)

        def fit(self):
            for step in range(100):
                x = {x}
                y = {y}
                loss = F.cross_entropy(self.logits_of(self.model, x), y)
                self.opt.zero_grad()
                loss.backward()
                self.opt.step()


    Trainer().fit()
"""


def test_synthetic_data_follows_the_model_into_a_helper_method_on_self(tmp_path):
    """A loop's batch reaches the model through `self.logits_of(self.model, x)`: a helper given the model feeds
    it, whether a function or a method on `self`."""
    bad = write_project(tmp_path / "bad", {"train.py": MODEL_HANDED_TO_A_METHOD.format(
        x="torch.randn(32, 16)  # expect: synthetic-data", y="torch.randint(0, 4, (32,))")})
    check_project(bad, {"synthetic-data"})
    good = write_project(tmp_path / "good", {"train.py": MODEL_HANDED_TO_A_METHOD.format(
        x="self.features[step * 32:(step + 1) * 32]", y="self.labels[step * 32:(step + 1) * 32]")})
    check_project(good, {"synthetic-data"})


TABULAR = """
    import numpy as np
    import pandas as pd
    import sklearn.datasets as skd
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    X, y = {samples}
    extra = pd.DataFrame({table}, columns=list("abcd"))
    features = np.hstack([X, extra.values]).astype(np.float32)
    loader = DataLoader(TensorDataset(torch.from_numpy(features), torch.from_numpy(y)), batch_size=64)
    model = nn.Sequential(nn.Linear(34, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters())
    for epoch in range(10):
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
"""


def test_synthetic_data_fires_on_scikit_learn_sample_generators_and_random_tables(tmp_path):
    """make_classification draws random points, and a DataFrame holds the columns it is built from: both carried
    no provenance, and a tabular model trained on them audited valid."""
    bad = write_project(tmp_path / "bad", {"train.py": TABULAR.format(
        samples="skd.make_classification(n_samples=2000, n_features=30)  # expect: synthetic-data",
        table="np.random.randn(2000, 4)")})
    report = check_project(bad, {"synthetic-data"})
    assert next(f for f in report.findings if f.rule == "synthetic-data").evidence["random_sources"] == [
        "sklearn.datasets.make_classification at train.py:9", "numpy.random.randn at train.py:10"]
    good = write_project(tmp_path / "good", {"train.py": TABULAR.format(
        samples="skd.load_breast_cancer(return_X_y=True)", table='pd.read_csv("extra.csv").values')})
    check_project(good, {"synthetic-data"})


def test_a_project_importing_its_src_directory_as_a_package_is_resolved(tmp_path):
    """`from src.engine import run_epoch`: files under src/ were indexed only without the `src.` prefix, so the
    training loop in src/engine.py looked unreached (placeholder-loop, missing-metrics) and a random Dataset
    there went unseen."""
    files = {
        "src/__init__.py": "",
        "src/engine.py": """
            import torch
            import torch.nn.functional as F

            def run_epoch(model, loader, opt):
                for x, y in loader:
                    opt.zero_grad()
                    F.cross_entropy(model(x), y).backward()
                    opt.step()

            @torch.no_grad()
            def measure(model, loader):
                return {"top1": sum((model(x).argmax(1) == y).sum().item() for x, y in loader) / len(loader.dataset)}
        """,
        "src/data.py": """
            import torch
            from torch.utils.data import Dataset

            class Leaves(Dataset):
                def __len__(self):
                    return 1000

                def __getitem__(self, i):
                    return {item}
        """,
        "train.py": """
            import torch
            from torch.utils.data import DataLoader

            import src.engine as engine
            from src.data import Leaves

            model = torch.nn.Linear(16, 4)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
            for epoch in range(10):
                engine.run_epoch(model, DataLoader(Leaves(), batch_size=32), opt)
                print(epoch, engine.measure(model, DataLoader(Leaves(), batch_size=64)))
        """,
    }
    good = write_project(tmp_path / "good", {**files, "src/data.py": files["src/data.py"].format(
        item='torch.load(f"leaves/{i}.pt")')})
    assert audit(good).verdict.value == "valid"
    bad = write_project(tmp_path / "bad", {**files, "src/data.py": files["src/data.py"].format(
        item="torch.randn(16), torch.randint(0, 4, ())  # expect: synthetic-data")})
    check_project(bad, {"synthetic-data"})


CHAR_LM = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    {tokens}
    n = int(0.9 * len(data))
    train_data, val_data = data[:n], data[n:]


    def get_batch{params}:
        data = {choice}
        ix = torch.randint(len(data) - 8, (32,))
        x = torch.stack([data[i:i + 8] for i in ix])
        y = torch.stack([data[i + 1:i + 9] for i in ix])
        return x, y


    model = nn.Sequential(nn.Embedding(65, 64), nn.Linear(64, 65))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for step in range(3000):
        x, y = get_batch{args}
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
"""
SPLITS = [("()", "train_data", "()"), ('(split)', 'train_data if split == "train" else val_data', '("train")')]


@pytest.mark.parametrize(("params", "choice", "args"), SPLITS, ids=["global", "split"])
def test_synthetic_data_reads_the_module_globals_a_batch_helper_reads(tmp_path, params, choice, args):
    """Karpathy's `get_batch()` indexes module-level tokens read from a file at random offsets. A function's free
    names had no provenance: the random offsets were all that reached the model (a false alarm), and a random
    token stream went unseen. Only the branches of `a if split == "train" else b` are the value, not the test."""
    real = 'with open("input.txt") as f:\n        data = torch.tensor([ord(c) % 65 for c in f.read()])'
    good = write_project(tmp_path / "good", {"train.py": CHAR_LM.format(
        tokens=real, params=params, choice=choice, args=args)})
    check_project(good, {"synthetic-data"})
    bad = write_project(tmp_path / "bad", {"train.py": CHAR_LM.format(
        tokens="data = torch.randint(0, 65, (100_000,))  # expect: synthetic-data", params=params, choice=choice,
        args=args)})
    check_project(bad, {"synthetic-data"})


MODEL_ZOO = {
    "models/__init__.py": "from .dla import *\nfrom .dla_simple import *\n",
    "models/dla.py": """
        import torch.nn as nn

        class DLA(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 2)

            def forward(self, x):
                return self.fc(x)
    """,
    "models/dla_simple.py": """
        import torch.nn as nn

        class SimpleDLA(nn.Module):
            {doc}
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 2)

            def forward(self, x):
                return self.fc(x)
    """,
    "main.py": joined("""
        import torch
        import torch.nn.functional as F
        from models import *
        from pkg.data import loader

        # model = DLA()
        model = SimpleDLA()
        opt = torch.optim.SGD(model.parameters(), lr=0.1){marker}
    """, LOADER_LOOP),
}


def test_placeholder_model_silent_on_a_model_zoo_variant_named_alone_and_fires_when_it_says_it_stands_in(tmp_path):
    """pytorch-cifar trains SimpleDLA, one of its zoo's models beside DLA. A name word alone says nothing; a
    docstring that calls the class a stand-in does, wherever it is defined (here behind `from models import *`,
    which re-exports the package's modules and was not followed)."""
    good = write_project(tmp_path / "good", {k: v.format(doc="", marker="") for k, v in MODEL_ZOO.items()})
    check_project(good, {"placeholder-model"})
    bad = write_project(tmp_path / "bad", {k: v.format(doc='"""Simplified stand-in for DLA."""',
                                                       marker="  # expect: placeholder-model")
                                           for k, v in MODEL_ZOO.items()})
    check_project(bad, {"placeholder-model"})


LIBRARY_MODEL = """
    import torch
    import torch.nn.functional as F
    import torchvision
    from torch.utils.data import DataLoader

    model = {model}
    opt = torch.optim.SGD(model.parameters(), lr=0.1){opt_marker}
    loader = DataLoader(torchvision.datasets.CIFAR10("data", download=True,
                                                     transform=torchvision.transforms.ToTensor()), batch_size=32)
    for x, y in loader:
        inputs = {x}
        loss = F.cross_entropy(model(inputs), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
"""


def test_torchvision_model_builders_make_modules_fed_and_trained(tmp_path):
    """`torchvision.models.resnet18()` is a function, so what it returned was no module: random batches fed to it
    went unseen, and a spec's required model was never compared with it."""
    bad = write_project(tmp_path / "bad", {"train.py": LIBRARY_MODEL.format(
        model="torchvision.models.resnet18(num_classes=10)", opt_marker="",
        x="torch.randn(32, 3, 32, 32)  # expect: synthetic-data")})
    check_project(bad, {"synthetic-data"})
    good = write_project(tmp_path / "good", {"train.py": LIBRARY_MODEL.format(
        model="torchvision.models.resnet18(num_classes=10)", opt_marker="", x="x")})
    check_project(good, {"synthetic-data"})
    spec = 'model = "models.TransUNet"\n'
    models = "import torch.nn as nn\n\n\nclass TransUNet(nn.Module):\n    pass\n"
    other = write_project(tmp_path / "spec", {"trainaudit.toml": spec, "models.py": models, "train.py":
                          LIBRARY_MODEL.format(model="torchvision.models.segmentation.fcn_resnet50(num_classes=2)",
                                               opt_marker="  # expect: placeholder-model", x="x")})
    check_project(other, {"placeholder-model"})


TILES = """
import glob

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset


class TileDataset(Dataset):
    def __init__(self, root):
        self.files = sorted(glob.glob(f"{{root}}/*.npy"))

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        tile = torch.from_numpy(np.load(self.files[i])).float()
        return tile, int(self.files[i].split("_")[-1][0])


def rotate(x, k):
    return torch.stack([torch.rot90(img, int(n), (1, 2)) for img, n in zip(x, k)])


def main():
    loader = DataLoader(TileDataset("data/tiles/train"), batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Conv2d(3, 32, 3, 2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 4))
    criterion = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(10):
        correct = 0
        for tiles, labels in loader:
{step}
            opt.zero_grad()
            loss.backward()
            opt.step()
            correct += (out.argmax(1) == labels).sum().item()
        print(epoch, "train accuracy", correct / len(loader.dataset))


if __name__ == "__main__":
    main()
"""
LABEL_STEPS = {
    "random-labels": """
            labels = torch.randint(0, 4, (tiles.size(0),))  # expect: synthetic-data
            out = model(tiles)
            loss = nn.functional.cross_entropy(out, labels)""",
    "random-labels-to-a-loss-module": """
            fake = torch.randint(0, 4, (tiles.size(0),))  # expect: synthetic-data
            out = model(tiles)
            loss = criterion(out, fake)""",
    "real-labels": """
            out = model(tiles)
            loss = criterion(out, labels)""",
    "rotation-pretext-labels": """
            rot = torch.randint(0, 4, (tiles.size(0),))
            out = model(rotate(tiles, rot))
            loss = criterion(out, rot)""",
    "diffusion-noise-target": """
            noise = torch.randn_like(tiles)
            out = model(tiles)
            loss = nn.functional.mse_loss(out, noise[:, :4, 0, 0]) + criterion(out, labels)""",
}


@pytest.mark.parametrize("step", LABEL_STEPS)
def test_synthetic_data_random_labels_for_real_inputs(tmp_path, step):
    """Real tiles trained against `torch.randint` classes learn nothing; a rotation pretext task's random labels
    also made its inputs, and a regression loss's random target can be an objective (a diffusion model's noise)."""
    write_project(tmp_path, {"train.py": TILES.format(step=LABEL_STEPS[step].strip("\n"))})
    check_project(tmp_path, {"synthetic-data"})


HELD_OUT = """
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms, models


def main():
    tf = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor()])
    train_set = datasets.ImageFolder("data/train", tf)
    val_set = datasets.ImageFolder("data/val", tf)
{loaders}
    model = models.resnet18(num_classes=len(train_set.classes))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    for epoch in range(30):
        model.train()
        for images, labels in {trained}:{marker}
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            correct = sum((model(x).argmax(1) == y).sum().item() for x, y in val_loader)
        print(f"epoch {{epoch}}: val_acc={{correct / len(val_set):.4f}}")


if __name__ == "__main__":
    main()
"""
LOADERS = """    train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=32)"""


@pytest.mark.parametrize(("loaders", "trained", "marker"), [
    (LOADERS, "val_loader", "  # expect: trained-on-eval-data"),  # train_loader built and never used
    (LOADERS, "train_loader", ""),
    # test-time adaptation: no training split is built, so training on test batches is the method
    ("    val_loader = DataLoader(val_set, batch_size=32)", "val_loader", ""),
])
def test_trained_on_eval_data(tmp_path, loaders, trained, marker):
    write_project(tmp_path, {"train.py": HELD_OUT.format(loaders=loaders, trained=trained, marker=marker)})
    check_project(tmp_path, {"trained-on-eval-data"})


def test_trained_on_eval_data_silent_when_the_training_split_is_used_elsewhere(tmp_path):
    script = HELD_OUT.format(loaders=LOADERS, trained="val_loader", marker="").replace(
        "    for epoch in range(30):", "    warm_up(model, train_loader)\n    for epoch in range(30):")
    write_project(tmp_path, {"train.py": "def warm_up(model, loader):\n    pass\n" + script})
    report = check_project(tmp_path, {"trained-on-eval-data", "parse-error"})
    assert report.summary["entry_points"] == ["train.py"]


LIGHTNING_OWN_LOADERS = """
import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset
from torchvision import datasets, transforms


class Classifier(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 64), torch.nn.ReLU(),
                                       torch.nn.Linear(64, 10))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_acc", (self.net(x).argmax(1) == y).float().mean())

    def train_dataloader(self):
        return DataLoader({train}, batch_size=32)

    def val_dataloader(self):
        return DataLoader(datasets.MNIST("data", train=False, transform=transforms.ToTensor()), batch_size=64)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


if __name__ == "__main__":
    pl.Trainer(max_epochs=5).fit(Classifier())
"""


@pytest.mark.parametrize(("train", "expected"), [
    ("TensorDataset(torch.randn(1000, 784), torch.randint(0, 10, (1000,)))", {("synthetic-data", "train.py", 25)}),
    ('datasets.MNIST("data", train=True, download=True, transform=transforms.ToTensor())', set()),
])
def test_synthetic_data_reads_a_lightning_modules_own_train_dataloader(tmp_path, train, expected):
    """Lightning feeds training_step the batches of the module's own `train_dataloader()`: random ones there were
    taken for the trainer's data."""
    write_project(tmp_path, {"train.py": LIGHTNING_OWN_LOADERS.format(train=train)})
    assert found(audit(tmp_path), {"synthetic-data", "dummy-input"}) == expected


def test_random_labels_of_a_shape_check_rebound_by_the_loop_are_not_the_training_labels(tmp_path):
    """`y = torch.randint(...)` for a sanity check before `for x, y in loader`: the loss reads the loader's y."""
    write_project(tmp_path, {"train.py": """
        import torch
        import torch.nn.functional as F
        from torch.utils.data import DataLoader
        from torchvision import datasets, transforms

        def main():
            model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            x = torch.randn(2, 1, 28, 28)
            y = torch.randint(0, 10, (2,))
            print(F.cross_entropy(model(x), y).item())
            loader = DataLoader(datasets.MNIST("data", download=True, transform=transforms.ToTensor()), batch_size=64)
            for epoch in range(3):
                for x, y in loader:
                    loss = F.cross_entropy(model(x), y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
    """})
    assert found(audit(tmp_path), {"synthetic-data"}) == set()


HF_LOOP = """
import torch
from datasets import load_dataset
from torch.utils.data import DataLoader
from transformers import AutoModelForCausalLM, AutoTokenizer


def main():
    tok = AutoTokenizer.from_pretrained("gpt2")
    model = AutoModelForCausalLM.from_pretrained("gpt2")
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5)
    texts = load_dataset("wikitext", "wikitext-2-raw-v1", split="train")["text"]
    loader = DataLoader(texts, batch_size=8, shuffle=True)
    for step, batch in enumerate(loader):
        ids = {ids}
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        print(step, loss.item())
"""


@pytest.mark.parametrize(("ids", "expected"), [
    ("torch.randint(0, 50257, (8, 128))", {("synthetic-data", "train.py", 14)}),
    ('tok(batch, return_tensors="pt", padding=True, truncation=True)["input_ids"]', set()),
])
def test_synthetic_data_sees_a_hugging_face_model_built_by_from_pretrained(tmp_path, ids, expected):
    """`AutoModelForCausalLM.from_pretrained(...)` builds a module, as torchvision's builders do: random token ids
    fed to it are the batches (a tokenizer's from_pretrained builds none)."""
    write_project(tmp_path, {"train.py": HF_LOOP.format(ids=ids)})
    assert found(audit(tmp_path), {"synthetic-data"}) == expected


THROUGHPUT = """
    import json
    import time
    import torch
    import torch.nn.functional as F
    from models import FooNet


    def main(steps=100):
        model = FooNet()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x = torch.randn(64, 8){mark}
        y = torch.randint(0, 2, (64,))
        {clock}
        for _ in range(steps):{loop_mark}
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        {after}
"""
REPORTS_SPEED = 'print("steps/s", steps / (time.perf_counter() - start))'


@pytest.mark.parametrize(("name", "after", "beside", "times"), [
    ("benchmark_speed.py", REPORTS_SPEED, True, True),
    ("tools/profile_step.py", REPORTS_SPEED, True, True),
    ("train_speed.py", REPORTS_SPEED, True, True),  # the same benchmark, whatever the file's name
    ("superfast_perfect.py", REPORTS_SPEED, True, False),  # "perf" and "speed" only inside words
    ("benchmark_speed.py", 'torch.save(model.state_dict(), f"foo{time.time()}.pt")', True, False),  # keeps it
    ("benchmark_speed.py", 'print("done")', True, False),  # no clock: nothing is timed
    ("benchmark_speed.py", 'json.dump({"s": time.perf_counter() - start}, open("b.json", "w"))', True, True),
    ("benchmark_speed.py", REPORTS_SPEED, False, False),  # FooNet is trained nowhere else
], ids=["benchmark", "profile-script", "named-train", "words-inside-words", "saves", "no-clock", "writes-its-result",
        "alone"])
def test_a_throughput_benchmark_on_random_input_is_not_training(tmp_path, name, after, beside, times):
    """Repositories time their training step on random tensors (`benchmark.py`, `speed_test.py`) beside the
    script that trains the same model on data: named for measuring speed, reading a clock and saving nothing,
    such a loop trains nothing and claims nothing. A benchmark of a model nothing else trains is its training."""
    clock = "start = time.perf_counter()" if "time." in after else "start = 0"
    code = THROUGHPUT.format(mark="" if times else "  # expect: synthetic-data", after=after, clock=clock,
                             loop_mark="" if times else "  # expect: missing-metrics")
    files = {"models.py": MODELS, name: code}
    if beside:
        files["fit_foo.py"] = TRAINS_ON_DATA
    write_project(tmp_path, files)
    report = check_project(tmp_path, {"synthetic-data", "missing-metrics"})
    assert (name in report.summary["entry_points"]) is not times


ITEM_LOOP = """
    import itertools

    import numpy as np
    import pandas as pd
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, Dataset
    from models import FooNet


    class RowsDataset(Dataset):
        def __init__(self, csv):
            self.labels = pd.read_csv(csv)["label"].values
            {init}

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, i):
            {item}


    def main():
        loader = DataLoader(RowsDataset("data/train.csv"), batch_size=32, shuffle=True)
        val = DataLoader(RowsDataset("data/val.csv"), batch_size=64)
        model = FooNet()
        opt = torch.optim.Adam(model.parameters())
        for epoch in range(10):
            {loop}
            with torch.no_grad():
                acc = sum((model(v[0]).argmax(1) == v[1]).float().mean().item() for v in val) / len(val)
            print(epoch, acc)
"""
FOR_TUPLE = """for x, y in loader:
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()"""
FOR_BATCH = """for batch in loader:
                x, y = batch
                x = x.float()
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()"""
FOR_REGRESSION = """for x, y in loader:
                loss = F.mse_loss(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()"""
FOR_ENUMERATE = """for i, (x, y) in enumerate(loader):
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()"""
DENOISING_LOOP = """for step, batch in enumerate(loader):
                clean, noise = batch
                loss = F.mse_loss(model(clean + 0.1 * noise), clean)
                opt.zero_grad()
                loss.backward()
                opt.step()"""
GENERATOR_LOOP = """for z, x in loader:
                loss = F.mse_loss(model(z).mean(0), x.float().mean(0))
                opt.zero_grad()
                loss.backward()
                opt.step()"""
DIFFUSION_LOOP = """for t, x0 in loader:
                noise = torch.randn_like(x0)
                xt = x0 + t * noise
                loss = F.mse_loss(model(xt), noise)
                opt.zero_grad()
                loss.backward()
                opt.step()"""


@pytest.mark.parametrize(("init", "item", "loop"), [
    ("", "return torch.randn(8), int(self.labels[i])  # expect: synthetic-data", FOR_TUPLE),
    ("", "image = torch.zeros(8)  # expect: synthetic-data\n            return image, int(self.labels[i])", FOR_BATCH),
    ("self.rows = torch.rand(len(self.labels), 8)  # expect: synthetic-data", "return self.rows[i], self.labels[i]",
     FOR_TUPLE),
    ("", "return torch.randn(8), int(self.labels[i])  # expect: synthetic-data", FOR_ENUMERATE),
    ("", "z = torch.randn(8)  # expect: synthetic-data\n            return z, int(self.labels[i])", FOR_TUPLE),
    ("", "return torch.randn(8), torch.tensor(self.labels[i]).float()  # expect: synthetic-data", FOR_REGRESSION),
    ("", "return torch.randn(8), int(self.labels[i])  # expect: synthetic-data",
     FOR_TUPLE.replace("in loader", "in itertools.islice(loader, 100)")),
    ("", "return torch.randn(8), torch.tensor(self.labels[i]).float()  # expect: synthetic-data",
     FOR_REGRESSION.replace("F.mse_loss(model(x), y)", "F.mse_loss(model(x), torch.log1p(y / 1e5)[:, None])")),
], ids=["random-input", "zeros-input-unpacked-in-the-loop", "random-rows-made-once", "enumerated",
        "named-like-a-latent", "regression-target", "islice", "scaled-regression-target"])
def test_synthetic_data_fires_on_a_dataset_of_made_up_inputs_with_real_labels(tmp_path, init, item, loop):
    """An agent that cannot read the images returns `torch.randn` from `__getitem__` beside the real labels: Flow
    merges a tuple's elements, so the batch seemed to carry data. The item's positions are read instead."""
    write_project(tmp_path, {"models.py": MODELS,
                             "train.py": ITEM_LOOP.format(init=init, item=item, loop=loop)})
    report = check_project(tmp_path, {"synthetic-data"})
    finding = next(f for f in report.findings if f.rule == "synthetic-data")
    assert finding.evidence["dataset"] == "train.RowsDataset"
    assert finding.evidence["data_sources"][0].startswith("pandas.read_csv at train.py:13")


@pytest.mark.parametrize(("init", "item", "loop"), [
    ("self.rows = pd.read_csv(csv)[['a', 'b']].values",
     "x = torch.tensor(self.rows[i]) + 0.01 * torch.randn(2)\n            return x, int(self.labels[i])", FOR_TUPLE),
    ("", "return torch.rand(()), torch.tensor(self.labels[i])", DIFFUSION_LOOP),
    ("self.rows = pd.read_csv(csv)[['a', 'b']].values", "return torch.randn(8), torch.tensor(self.rows[i])",
     GENERATOR_LOOP),
    ("self.rows = pd.read_csv(csv)[['a', 'b']].values",
     "return torch.tensor(self.rows[i]), torch.rand(8) < 0.1, self.labels[i]",
     FOR_TUPLE.replace("for x, y in", "for x, mask, y in").replace("model(x)", "model(x, mask)")),
    ("self.rows = pd.read_csv(csv)[['a', 'b']].values",
     "x = torch.tensor(self.rows[i]).float()\n            return x, torch.randn_like(x)", DENOISING_LOOP),
    ("self.rows = pd.read_csv(csv)[['a', 'b']].values.astype(np.float32)",
     "buf = np.zeros(2, dtype=np.float32)\n            np.copyto(buf, self.rows[i])\n"
     "            return buf, int(self.labels[i])", FOR_TUPLE),
    ("self.z = torch.rand(len(self.labels), 8) * 0.1", "return self.z[i], torch.tensor(self.labels[i]).float()",
     FOR_REGRESSION),
], ids=["noise-added-to-real-rows", "random-timestep-beside-the-data", "latents-fitted-to-the-data",
        "random-mask-beside-data", "enumerated-noise-beside-the-clean-input", "buffer-filled-in-place",
        "per-item-latent-codes"])
def test_synthetic_data_silent_on_datasets_whose_random_parts_sit_beside_real_inputs(tmp_path, init, item, loop):
    write_project(tmp_path, {"models.py": MODELS,
                             "train.py": ITEM_LOOP.format(init=init, item=item, loop=loop)})
    check_project(tmp_path, {"synthetic-data"})


LIGHTNING_ROWS = """
    import lightning as L
    import pandas as pd
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, Dataset


    class Rows(Dataset):
        def __init__(self, csv):
            self.labels = pd.read_csv(csv)["label"].values
            self.rows = pd.read_csv(csv)[["a", "b"]].values

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, i):
            return {item}


    class Model(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(2, 2)

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


    if __name__ == "__main__":
        trainer = L.Trainer(max_epochs=5)
        trainer.fit(Model(), DataLoader(Rows("train.csv"), batch_size=32), DataLoader(Rows("val.csv"), batch_size=32))
"""


@pytest.mark.parametrize("item", ["torch.randn(2), int(self.labels[i])  # expect: synthetic-data",
                                  "torch.tensor(self.rows[i]).float(), int(self.labels[i])"], ids=["made-up", "real"])
def test_synthetic_data_reads_the_items_a_lightning_training_step_unpacks(tmp_path, item):
    write_project(tmp_path, {"train.py": LIGHTNING_ROWS.format(item=item)})
    check_project(tmp_path, {"synthetic-data"})


SMOKE_TESTED_MODEL = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F


    class FooNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(x)


    {smoke_def}
    if __name__ == "__main__":
        {smoke}
"""
SMOKE = """net = FooNet()
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        x, y = torch.randn(8, 8), torch.randint(0, 2, (8,)){mark}
        for _ in range(50):{loop_mark}
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print("final loss", loss.item())"""
SMOKE_FUNCTION = """def overfit_one_batch():
        net = FooNet()
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        x, y = torch.randn(8, 8), torch.randint(0, 2, (8,))
        for _ in range(50):
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return loss.item()

"""
TRAINS_ON_DATA = """
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset
    from models import FooNet

    data = torch.load("data/train.pt")
    loader = DataLoader(TensorDataset(data["x"], data["y"]), batch_size=32, shuffle=True)
    model = FooNet()
    opt = torch.optim.Adam(model.parameters())
    for epoch in range(10):
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            print(epoch, (model(data["x_val"]).argmax(1) == data["y_val"]).float().mean().item())
"""
TRAINS_A_PROBE = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset
    from models import FooNet

    data = torch.load("data/train.pt")
    loader = DataLoader(TensorDataset(data["x"], data["y"]), batch_size=32, shuffle=True)
    net = FooNet()
    net.load_state_dict(torch.load("foo.pt"))
    probe = nn.Linear(2, 2)
    opt = torch.optim.Adam(probe.parameters())
    for epoch in range(10):
        for x, y in loader:
            with torch.no_grad():
                feats = net(x)
            loss = F.cross_entropy(probe(feats), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(epoch, (probe(net(data["x_val"])).argmax(1) == data["y_val"]).float().mean().item())
"""
LIGHTNING_WRAPPER = """
    import lightning as L
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset
    from models import FooNet


    class Lit(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = FooNet()

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


    data = torch.load("data/train.pt")
    loader = DataLoader(TensorDataset(data["x"], data["y"]), batch_size=32)
    L.Trainer(max_epochs=5).fit(Lit(), loader, loader)
"""
EVALUATES_ONLY = """
    import torch
    from models import FooNet

    model = FooNet()
    model.load_state_dict(torch.load("foo.pt"))
    print(model(torch.load("data/x.pt")).argmax(1))
"""


@pytest.mark.parametrize(("train", "smoke_def", "smoke", "self_test"), [
    (TRAINS_ON_DATA, "", SMOKE, True),
    (TRAINS_ON_DATA, SMOKE_FUNCTION, "print(overfit_one_batch())", True),
    (EVALUATES_ONLY, "", SMOKE, False),  # the importer trains nothing: the model file's block is the training
    (TRAINS_A_PROBE, "", SMOKE, False),  # the importer trains a probe: FooNet is trained only on noise
    (LIGHTNING_WRAPPER, "", SMOKE, True),  # the importer fits a LightningModule holding FooNet
    (TRAINS_ON_DATA, "", SMOKE + '\n        torch.save(net.state_dict(), "foo.pt")', False),  # pretraining
    (None, "", SMOKE, False),  # nothing imports the model file: it is the script that trains
], ids=["main-block", "function-called-from-main-block", "importer-trains-nothing", "importer-trains-a-probe",
        "importer-fits-a-wrapper", "saves-what-it-trained", "not-imported"])
def test_a_model_files_self_test_on_random_batches_is_not_the_projects_training(tmp_path, train, smoke_def, smoke,
                                                                                self_test):
    """Research code often ends a model file with a smoke test that overfits one random batch under its
    `__main__` guard, while train.py imports the model and trains it on data. That block is not how the
    project trains; the same block still is when no training script imports the module, or when the one that
    does trains something else."""
    marks = {"mark": "" if self_test else "  # expect: synthetic-data",
             "loop_mark": "" if self_test else "  # expect: missing-metrics"}
    files = {"models.py": SMOKE_TESTED_MODEL.format(smoke_def=smoke_def, smoke=smoke.format(**marks))}
    if train is not None:
        files["train.py"] = train
    write_project(tmp_path, files)
    report = check_project(tmp_path, {"synthetic-data", "missing-metrics", "placeholder-loop"})
    assert ("models.py" in report.summary["entry_points"]) is not self_test


OPTIMIZER_FACTORY = """
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset
    from models import FooNet
    from optim import build_optimizer

    data = torch.load("data/train.pt")
    loader = DataLoader(TensorDataset(data["x"], data["y"]), batch_size=32, shuffle=True)
    model = FooNet()
    opt = build_optimizer(model, 1e-3)
    for epoch in range(10):
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            print(epoch, (model(data["x_val"]).argmax(1) == data["y_val"]).float().mean().item())
"""


def test_a_benchmark_beside_training_whose_models_cannot_be_told_is_left_out(tmp_path):
    """The real training builds its optimizer in a project factory: what it trains is not known, so it may be
    the benchmarked model, and the benchmark is not taken for the project's training."""
    code = THROUGHPUT.format(mark="", after=REPORTS_SPEED, clock="start = time.perf_counter()", loop_mark="")
    write_project(tmp_path, {"models.py": MODELS, "benchmark_speed.py": code, "fit_foo.py": OPTIMIZER_FACTORY,
                             "optim.py": "import torch\n\n\ndef build_optimizer(model, lr):\n"
                                         "    return torch.optim.AdamW(model.parameters(), lr=lr)\n"})
    report = check_project(tmp_path, {"synthetic-data", "missing-metrics"})
    assert "benchmark_speed.py" not in report.summary["entry_points"]


UNCALLED_FACTORY_TRAINING = """
    import torch
    import torch.nn.functional as F
    from models import FooNet
    from optim import build_optimizer


    def finetune(loader):
        model = FooNet()
        opt = build_optimizer(model, 1e-3)
        for x, y in loader:  # expect: missing-metrics
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
"""
PROBE_BY_FACTORY = TRAINS_A_PROBE.replace("opt = torch.optim.Adam(probe.parameters())",
                                          "opt = build_optimizer(probe, 1e-3)").replace(
    "from models import FooNet", "from models import FooNet\n    from optim import build_optimizer")
FACTORY = "import torch\n\n\ndef build_optimizer(model, lr):\n    return torch.optim.AdamW(model.parameters(), lr=lr)\n"


def test_training_nothing_calls_does_not_hide_a_benchmark_of_noise(tmp_path):
    """A loop of unknown models counts as possibly training the benchmarked one only if it runs: an uncalled
    function whose optimizer comes from a factory trains nothing."""
    code = THROUGHPUT.format(mark="  # expect: synthetic-data", after=REPORTS_SPEED,
                             clock="start = time.perf_counter()", loop_mark="  # expect: missing-metrics")
    write_project(tmp_path, {"models.py": MODELS, "benchmark_speed.py": code, "optim.py": FACTORY,
                             "finetune.py": UNCALLED_FACTORY_TRAINING})
    check_project(tmp_path, {"synthetic-data", "missing-metrics"})


def test_a_factory_optimizer_trains_the_module_handed_to_it(tmp_path):
    """`build_optimizer(probe, lr)`: the importer trains the probe, not FooNet, so the model file's noise training
    under its `__main__` guard is still the only training FooNet gets."""
    smoke = SMOKE.format(mark="  # expect: synthetic-data", loop_mark="  # expect: missing-metrics")
    write_project(tmp_path, {"models.py": SMOKE_TESTED_MODEL.format(smoke_def="", smoke=smoke),
                             "train.py": PROBE_BY_FACTORY, "optim.py": FACTORY})
    check_project(tmp_path, {"synthetic-data", "missing-metrics"})
