"""dummy-input, discarded-output, isolated-training: fire on broken wiring, silent on the close legit cases."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import check_project, write_project

ENCODERS = """
    import torch
    import torch.nn as nn

    class GraphEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 32)

        def forward(self, g):
            return self.fc(g)

    class ImageEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)

        def forward(self, x):
            return self.conv(x).mean((2, 3))

    class Fusion(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(40, 2)

        def forward(self, parts):
            return self.head(torch.cat([parts["graph"], parts["image"]], dim=1))
"""

TRAIN = """
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader
    from data import PairDataset
    from models import System

    model = System()
    opt = torch.optim.Adam(model.parameters())
    for g, x, y in DataLoader(PairDataset("pairs.npz"), batch_size=8):
        loss = F.cross_entropy(model(g, x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
"""


def _system(forward: str) -> str:
    return ENCODERS + """
    class System(nn.Module):
        def __init__(self):
            super().__init__()
            self.graph = GraphEncoder()
            self.image = ImageEncoder()
            self.fusion = Fusion()
            self.rnn = nn.GRU(8, 8)

""" + forward


def test_dummy_input_fires_on_random_tensor_in_place_of_encoder_output(tmp_path):
    write_project(tmp_path, {"train.py": TRAIN, "models.py": _system("""
        def forward(self, g, x):
            image = self.image(x)
            dummy = torch.randn(x.size(0), 32)  # expect: dummy-input
            return self.fusion({"graph": dummy, "image": image})
""")})
    report = check_project(tmp_path, {"dummy-input"})
    f = next(f for f in report.findings if f.rule == "dummy-input")
    assert f.evidence["component"] == "models.Fusion"
    assert f.evidence["input"] == "argument 1 key 'graph'"


def test_dummy_input_fires_on_constant_fed_to_project_component(tmp_path):
    write_project(tmp_path, {"train.py": TRAIN, "models.py": _system("""
        def forward(self, g, x):
            image = self.image(x)
            graph = self.graph(torch.zeros(x.size(0), 16))  # expect: dummy-input
            return self.fusion({"graph": graph, "image": image})
""")})
    check_project(tmp_path, {"dummy-input"})


def test_dummy_input_silent_on_real_wiring_rnn_state_and_reparameterisation(tmp_path):
    write_project(tmp_path, {"train.py": TRAIN, "models.py": _system("""
        def forward(self, g, x):
            image = self.image(x)
            mu = self.graph(g)
            z = mu + torch.randn_like(mu) * 0.1
            h0 = torch.zeros(1, x.size(0), 8)
            seq, _ = self.rnn(image[:, :8].unsqueeze(0), h0)
            return self.fusion({"graph": z, "image": image + seq.squeeze(0).sum()})

        def sample(self, n):
            return self.fusion({"graph": torch.randn(n, 32), "image": torch.randn(n, 8)})
""")})
    check_project(tmp_path, {"dummy-input"})


AUXILIARY = ENCODERS + """
    class Transformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, hidden_states, attention_mask, position_ids, spatial_shapes=None):
            return self.fc(hidden_states) * attention_mask[..., None] + position_ids[..., None]

    class TimeEmbedding(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(1, 8)

        def forward(self, t):
            return self.fc(t[:, None])

    class System(nn.Module):
        def __init__(self, delay=3):
            super().__init__()
            self.delay = delay
            self.image = ImageEncoder()
            self.graph = GraphEncoder()
            self.fusion = Fusion()
            self.transformer = Transformer()
            self.time = TimeEmbedding()

        def _prepare(self, h, ones):
            return h * ones

        def forward(self, g, x):
            image = self.image(x)
            h = image[:, None, :].expand(-1, 4, -1)
"""


def test_dummy_input_silent_on_masks_positions_shapes_and_real_fills(tmp_path):
    """What transformer code feeds its components routinely (seen in transformers' BLIP, Deformable DETR,
    Decision Transformer, rotary embeddings): an all-ones attention mask, arange or zero position ids, feature-map
    shapes, a tensor filled with a configured value, ones passed to the module's own helper method."""
    write_project(tmp_path, {"train.py": TRAIN, "models.py": AUXILIARY + """
            positions = torch.arange(h.size(1)).expand(h.size(0), -1)
            shapes = torch.as_tensor([tuple(t.shape[-2:]) for t in (x,)])
            h = self.transformer(h, torch.ones(h.shape[:-1]), positions, spatial_shapes=shapes)
            h = self.transformer(h, attention_mask=torch.ones(h.shape[:-1]), position_ids=torch.zeros(h.shape[:-1]))
            t = self.time(torch.full((x.size(0),), self.delay, dtype=torch.float))
            h = self._prepare(h, torch.ones(h.shape[:-1] + (1,)))
            return self.fusion({"graph": self.graph(g), "image": image + h.mean(1) + t})
"""})
    check_project(tmp_path, {"dummy-input"})


def test_dummy_input_fires_on_constant_features_fills_and_written_out_tensors(tmp_path):
    write_project(tmp_path, {"train.py": TRAIN, "models.py": AUXILIARY + """
            h = self.transformer(torch.zeros(h.shape), torch.ones(h.shape[:-1]), torch.arange(4))  # expect: dummy-input
            t = self.time(torch.full((x.size(0),), 0.5))  # expect: dummy-input
            graph = self.graph(torch.tensor([[0.0] * 16]))  # expect: dummy-input
            return self.fusion({"graph": graph, "image": image + h.mean(1) + t})
"""})
    report = check_project(tmp_path, {"dummy-input"})
    assert {f.evidence["input"] for f in report.findings if f.rule == "dummy-input"} == {"argument 1"}


DIT_MODELS = """
import math
import torch
import torch.nn as nn


class TimestepEmbedder(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.dim = dim

    def forward(self, t):
        half = self.dim // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half) / half)
        args = t[:, None].float() * freqs[None]
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))


class DiT(nn.Module):
    def __init__(self, dim=64, classes=10):
        super().__init__()
        self.x_embed = nn.Linear(16, dim)
        self.t_embed = TimestepEmbedder(dim)
        self.y_embed = nn.Embedding(classes + 1, dim)
        self.block = nn.TransformerEncoderLayer(dim, 4, batch_first=True)
        self.out = nn.Linear(dim, 16)

    def forward(self, x, t, y):
        h = self.x_embed(x) + (self.t_embed(t) + self.y_embed(y))[:, None]
        return self.out(self.block(h))
"""
DIT_DATA = """
import numpy as np
import torch
from torch.utils.data import Dataset


class PatchDataset(Dataset):
    def __init__(self, root):
        self.x = np.load(f"{root}/x.npy")
        self.y = np.load(f"{root}/y.npy")

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return torch.from_numpy(self.x[i]), int(self.y[i])
"""
DIT_TRAIN = """
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from data import PatchDataset
from models import DiT

T = 1000
alphas_bar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, T), 0)


def q_sample(x0, t, noise):
    return alphas_bar[t].sqrt()[:, None, None] * x0 + (1 - alphas_bar[t]).sqrt()[:, None, None] * noise


def main():
    loader = DataLoader(PatchDataset("data/train"), batch_size=32, shuffle=True)
    model = DiT()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    for epoch in range(100):
        for x0, y in loader:
            t = torch.randint(0, T, (x0.size(0),)){marker}
            noise = torch.randn_like(x0)
            pred = model({x_in}, t, y)
            loss = F.mse_loss(pred, noise)
            opt.zero_grad()
            loss.backward()
            opt.step()
"""


def test_dummy_input_silent_on_diffusion_timesteps_fed_to_a_denoiser_of_any_name(tmp_path):
    """A DiT-style loop: the model is not named like a generator, and the random timesteps it is given are the
    ones that noised its input (`model(q_sample(x0, t, noise), t, y)`)."""
    write_project(tmp_path, {"models.py": DIT_MODELS, "data.py": DIT_DATA,
                             "train.py": DIT_TRAIN.format(x_in="q_sample(x0, t, noise)", marker="")})
    check_project(tmp_path, {"dummy-input"})


def test_dummy_input_fires_on_random_timesteps_that_noised_nothing(tmp_path):
    write_project(tmp_path, {"models.py": DIT_MODELS, "data.py": DIT_DATA,
                             "train.py": DIT_TRAIN.format(x_in="x0", marker="  # expect: dummy-input")})
    check_project(tmp_path, {"dummy-input"})


BPR = """
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class MF(nn.Module):
    def __init__(self, users, items, dim=32):
        super().__init__()
        self.u = nn.Embedding(users, dim)
        self.i = nn.Embedding(items, dim)

    def forward(self, user, pos, neg):
        u = self.u(user)
        return (u * self.i(pos)).sum(-1), (u * self.i(neg)).sum(-1)


def recall_at_k(model, val, k=10):
    with torch.no_grad():
        scores = model.u.weight[val[:, 0]] @ model.i.weight.T
        top = scores.topk(k).indices
        return (top == val[:, 1:2]).any(1).float().mean().item()


def main():
    inter = np.load("data/interactions.npy")
    val = torch.from_numpy(np.load("data/val.npy"))
    n_users, n_items = inter[:, 0].max() + 1, inter[:, 1].max() + 1
    loader = DataLoader(TensorDataset(torch.from_numpy(inter[:, 0]), torch.from_numpy(inter[:, 1])), batch_size=1024,
                        shuffle=True)
    model = MF(n_users, n_items)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(20):
        for user, pos in loader:
            neg = torch.randint(0, n_items, pos.shape)
            p, n = model(user, {pos}, neg){marker}
            loss = -torch.nn.functional.logsigmoid(p - n).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(epoch, recall_at_k(model, val))


if __name__ == "__main__":
    main()
"""


def test_dummy_input_silent_on_negative_samples(tmp_path):
    """BPR matrix factorisation: negatives are random item ids by design, `model(user, pos, neg)`."""
    write_project(tmp_path, {"train.py": BPR.format(pos="pos", marker="")})
    check_project(tmp_path, {"dummy-input"})


def test_dummy_input_fires_on_random_positives(tmp_path):
    write_project(tmp_path, {"train.py": BPR.format(pos="torch.randint(0, n_items, pos.shape)",
                                                    marker="  # expect: dummy-input")})
    check_project(tmp_path, {"dummy-input"})


CHAR_RNN = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

from data import TextDataset


class CharRNN(nn.Module):
    def __init__(self, vocab, hidden=128, layers=2):
        super().__init__()
        self.layers, self.hidden = layers, hidden
        self.embed = nn.Embedding(vocab, hidden)
        self.lstm = nn.LSTM(hidden, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state):
        h, state = self.lstm(self.embed(x), state)
        return self.head(h), state

    def init_state(self, batch):
        return (torch.zeros(self.layers, batch, self.hidden), torch.zeros(self.layers, batch, self.hidden))


def main():
    train = DataLoader(TextDataset("data/train.txt"), batch_size=32, shuffle=True)
    val = DataLoader(TextDataset("data/val.txt"), batch_size=32)
    model = CharRNN(96)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for epoch in range(20):
        for x, y in train:
            h0 = torch.{h0}(2, x.size(0), 128){marker}
            c0 = torch.zeros(2, x.size(0), 128)
            logits, _ = model(x, (h0, c0))
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            val_loss = sum(F.cross_entropy(model(x, model.init_state(x.size(0)))[0].flatten(0, 1), y.flatten()).item()
                           for x, y in val)
        print(epoch, val_loss)


if __name__ == "__main__":
    main()
"""
CHAR_DATA = """
import torch
from torch.utils.data import Dataset


class TextDataset(Dataset):
    def __init__(self, path, seq=64):
        with open(path) as fh:
            self.ids = torch.tensor([min(ord(c), 95) for c in fh.read()])
        self.seq = seq

    def __len__(self):
        return len(self.ids) // self.seq - 1

    def __getitem__(self, i):
        s = i * self.seq
        return self.ids[s:s + self.seq], self.ids[s + 1:s + self.seq + 1]
"""


def test_dummy_input_silent_on_zero_initial_states_of_a_project_rnn(tmp_path):
    write_project(tmp_path, {"train.py": CHAR_RNN.format(h0="zeros", marker=""), "data.py": CHAR_DATA})
    check_project(tmp_path, {"dummy-input"})


def test_dummy_input_fires_on_a_random_state_in_place_of_an_encoder_state(tmp_path):
    """Zeros start a state; random values stand in for one (a decoder given noise instead of its encoder's state)."""
    write_project(tmp_path, {"train.py": CHAR_RNN.format(h0="randn", marker="  # expect: dummy-input"),
                             "data.py": CHAR_DATA})
    check_project(tmp_path, {"dummy-input"})


TAGGER = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

from data import TextDataset


class Tagger(nn.Module):
    def __init__(self, vocab=96, dim=64):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, ids):
        return self.head(self.embed(ids))


def main():
    train = DataLoader(TextDataset("data/train.txt"), batch_size=32, shuffle=True)
    model = Tagger()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for epoch in range(20):
        correct = 0
        for x, y in train:
            logits = model({x_in}){marker}
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
            opt.zero_grad()
            loss.backward()
            opt.step()
            correct += (logits.argmax(-1) == y).sum().item()
        print(epoch, correct)


if __name__ == "__main__":
    main()
"""


def test_dummy_input_fires_on_zeros_in_place_of_the_only_input_of_a_loop(tmp_path):
    """A loop whose model sees nothing but zeros: no random values, so not synthetic-data's case, and no real input
    reaches the model at all; it was reported by no rule."""
    write_project(tmp_path, {"train.py": TAGGER.format(x_in="torch.zeros_like(x)", marker="  # expect: dummy-input"),
                             "data.py": CHAR_DATA})
    check_project(tmp_path, {"dummy-input", "synthetic-data"})


def test_dummy_input_silent_on_the_same_loop_fed_its_batches(tmp_path):
    write_project(tmp_path, {"train.py": TAGGER.format(x_in="x", marker=""), "data.py": CHAR_DATA})
    check_project(tmp_path, {"dummy-input", "synthetic-data"})


SEQUENTIAL_GAN = """
    import torch
    import torch.nn as nn
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    loader = DataLoader(datasets.MNIST("data", transform=transforms.ToTensor()), batch_size=100, shuffle=True)
    D = nn.Sequential(nn.Linear(784, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1), nn.Sigmoid())
    G = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 784), nn.Tanh())
    criterion = nn.BCELoss()
    d_optimizer = torch.optim.Adam(D.parameters(), lr=2e-4)
    g_optimizer = torch.optim.Adam(G.parameters(), lr=2e-4)
    for epoch in range(200):
        for images, _ in loader:
            images = images.reshape(100, -1)
            {latent} = torch.randn(100, 64){marker}
            fake_images = G({latent}.to("cpu"))
            d_loss = criterion(D(images), torch.ones(100, 1)) + criterion(D(fake_images.detach()), torch.zeros(100, 1))
            d_optimizer.zero_grad()
            d_loss.backward()
            d_optimizer.step()
            g_loss = criterion(D(fake_images), torch.ones(100, 1))
            g_optimizer.zero_grad()
            g_loss.backward()
            g_optimizer.step()
"""


def test_dummy_input_silent_on_a_latent_fed_to_an_anonymous_generator(tmp_path):
    """yunjey/pytorch-tutorial's GAN: `G = nn.Sequential(...)` fed `z = torch.randn(...)`; nothing but the
    names says it is a generator, and `z` is the latent's name in every GAN paper."""
    write_project(tmp_path, {"gan.py": SEQUENTIAL_GAN.format(latent="z", marker="")})
    check_project(tmp_path, {"dummy-input"})


def test_dummy_input_fires_on_the_same_random_tensor_named_as_features(tmp_path):
    write_project(tmp_path, {"gan.py": SEQUENTIAL_GAN.format(latent="features", marker="  # expect: dummy-input")})
    check_project(tmp_path, {"dummy-input"})


def test_discarded_output_fires_on_unused_encoder_output(tmp_path):
    write_project(tmp_path, {"train.py": TRAIN, "models.py": _system("""
        def forward(self, g, x):
            graph_features = self.graph(g)  # expect: discarded-output
            image = self.image(x)
            return self.fusion({"graph": image.repeat(1, 4), "image": image})
""")})
    check_project(tmp_path, {"discarded-output"})


def test_discarded_output_silent_when_used_or_deliberately_ignored(tmp_path):
    write_project(tmp_path, {"train.py": TRAIN, "models.py": _system("""
        def forward(self, g, x):
            h = self.graph(g)
            h = h * 2
            image = self.image(x)
            _ = self.image(x)
            seq, _state = self.rnn(image[:, :8].unsqueeze(0))
            self.log_shapes(h)
            return self.fusion({"graph": h, "image": image + seq.sum()})

        def log_shapes(self, h):
            return h.shape
""")})
    check_project(tmp_path, {"discarded-output"})


FIT = """
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader
    from data import PairDataset
    from models import System


    def fit(model, loader, epochs=3):
        opt = torch.optim.Adam(model.parameters())
        for epoch in range(epochs):
            for g, x, y in loader:
                {line}
                loss = F.cross_entropy(model(g, x), y)
                model.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()


    fit(System(), DataLoader(PairDataset("pairs.npz"), batch_size=8))
"""
FORWARD = """
        def forward(self, g, x):
            return self.fusion({"graph": self.graph(g), "image": self.image(x)})
"""


def test_discarded_output_silent_on_module_methods_of_a_model_passed_in(tmp_path):
    """minGPT's Trainer: `model.zero_grad(set_to_none=True)` on the model it was handed runs no component."""
    write_project(tmp_path, {"train.py": FIT.format(line="model.train()"), "models.py": _system(FORWARD)})
    check_project(tmp_path, {"discarded-output"})


def test_discarded_output_fires_on_the_model_passed_in_run_and_dropped(tmp_path):
    write_project(tmp_path, {"train.py": FIT.format(line="model(g, x)  # expect: discarded-output"),
                             "models.py": _system(FORWARD)})
    check_project(tmp_path, {"discarded-output"})


SCRIPT = """
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader
    from data import PairDataset
    from models import System

    model = System()
    loader = DataLoader(PairDataset("pairs.npz"), batch_size=8)
    opt = torch.optim.Adam(model.parameters())
    for epoch in range(3):
        for g, x, y in loader:
            sample = model(g, x){marker}
            loss = F.cross_entropy(model(g, x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        {after}
"""


def test_discarded_output_silent_on_an_output_a_top_level_script_reads_after_the_loop(tmp_path):
    """PyTorch-GAN's scripts: `gen_imgs = generator(z)` in the batch loop, saved as images after it, in the
    epoch loop; at module level only the batch loop's own statements were searched for the read."""
    write_project(tmp_path, {"train.py": SCRIPT.format(marker="", after='torch.save(sample, f"s{epoch}.pt")'),
                             "models.py": _system(FORWARD)})
    check_project(tmp_path, {"discarded-output"})


def test_discarded_output_fires_on_an_output_a_top_level_script_never_reads(tmp_path):
    write_project(tmp_path, {"train.py": SCRIPT.format(marker="  # expect: discarded-output", after="print(epoch)"),
                             "models.py": _system(FORWARD)})
    check_project(tmp_path, {"discarded-output"})


def test_discarded_output_silent_on_a_loss_that_read_an_attribute_of_the_model(tmp_path):
    """Pytorch-UNet's train_net: the target's dtype depends on `net.n_classes`, so the loss carries the
    parameter `net`; `loss.backward()` was reported as a dropped output of the UNet."""
    line = ("mask_type = torch.float32 if model.n_classes == 1 else torch.long\n"
            "                y = y.to(dtype=mask_type)")
    write_project(tmp_path, {"train.py": FIT.format(line=line).replace(
        "model.zero_grad(set_to_none=True)", "opt.zero_grad()"), "models.py": _system(FORWARD)})
    check_project(tmp_path, {"discarded-output"})


ISOLATED = """
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader
    from data import PairDataset
    from models import GraphEncoder, ImageEncoder, Fusion

    loader = DataLoader(PairDataset("pairs.npz"), batch_size=8)
    graph, image = GraphEncoder(), ImageEncoder()
    opt_graph = torch.optim.Adam(graph.parameters())  # expect: isolated-training
    opt_image = torch.optim.Adam(image.parameters())  # expect: isolated-training
    for g, x, y in loader:
        loss = F.mse_loss(graph(g), torch.zeros(len(g), 32))
        opt_graph.zero_grad()
        loss.backward()
        opt_graph.step()
    for g, x, y in loader:
        loss = image(x).pow(2).mean()
        opt_image.zero_grad()
        loss.backward()
        opt_image.step()
"""


def test_isolated_training_fires_when_composite_never_trained(tmp_path):
    write_project(tmp_path, {"train.py": ISOLATED, "models.py": _system("""
        def forward(self, g, x):
            return self.fusion({"graph": self.graph(g), "image": self.image(x)})
""")})
    report = check_project(tmp_path, {"isolated-training"})
    assert {f.evidence["composite"] for f in report.findings if f.rule == "isolated-training"} == {"models.System"}


def test_isolated_training_silent_for_gan_style_joint_loop_and_for_trained_composite(tmp_path):
    joint = ISOLATED.replace("  # expect: isolated-training", "")
    joint = joint.replace("""        opt_graph.step()
    for g, x, y in loader:
""", """        opt_graph.step()
""")
    write_project(tmp_path / "joint", {"train.py": joint, "models.py": _system("""
        def forward(self, g, x):
            return self.fusion({"graph": self.graph(g), "image": self.image(x)})
""")})
    check_project(tmp_path / "joint", {"isolated-training"})
    trained = ISOLATED.replace("  # expect: isolated-training", "") + """
    from models import System
    system = System()
    opt_all = torch.optim.Adam(system.parameters())
    for g, x, y in loader:
        loss = F.cross_entropy(system(g, x), y)
        opt_all.zero_grad()
        loss.backward()
        opt_all.step()
"""
    write_project(tmp_path / "pretrain", {"train.py": trained, "models.py": _system("""
        def forward(self, g, x):
            return self.fusion({"graph": self.graph(g), "image": self.image(x)})
""")})
    check_project(tmp_path / "pretrain", {"isolated-training"})


@pytest.mark.parametrize("project", sorted((Path(__file__).parents[1] / "fixtures").glob("*/*"))
                         + sorted((Path(__file__).parents[2] / "examples").iterdir()), ids=lambda p: p.name)
def test_held_class_screen_never_hides_what_flow_finds(project):
    """isolated-training skips a class when the screen says it holds fewer than two trained components; the
    screen copies how Flow binds values, so check it against Flow.submodules itself on every corpus class."""
    from trainaudit.context import AuditContext
    from trainaudit.rules.integration import _HeldClasses
    from trainaudit.spec import load_spec

    ctx = AuditContext(project.resolve(), load_spec(project, None))
    index, flow = ctx.source.index, ctx.source.flow
    screen = _HeldClasses(flow, index)
    for cls in (c for c in index.classes.values() if index.is_module(c)):
        allowed = screen.of(cls)
        if allowed is not None:
            held = {m for mods in flow.submodules(cls).values() for m in mods if m in index.classes}
            assert held <= allowed, cls.qualname
    ctx.close()


HYBRID_MODELS = ENCODERS + """
    class Hybrid(nn.Module):
        def __init__(self):
            super().__init__()
            self.graph = GraphEncoder()
            self.image = ImageEncoder()
            self.fusion = nn.Sequential(nn.Linear(40, 16), nn.ReLU(), nn.Linear(16, 1))

        def forward(self, g, x):
            return self.fusion(torch.cat([self.graph(g), self.image(x)], 1))
"""
TRAIN_PARTS = """
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from hybrid.models import GraphEncoder, Hybrid, ImageEncoder

data = np.load("data/train.npz")
g, x, y = (torch.from_numpy(data[k]) for k in ("g", "x", "y"))
val = np.load("data/val.npz")

gnn, vit = GraphEncoder(), ImageEncoder()
head_g, head_v = nn.Linear(64, 1), nn.Linear(64, 1)
opt_g = torch.optim.Adam(list(gnn.parameters()) + list(head_g.parameters())){marker}
opt_v = torch.optim.Adam(list(vit.parameters()) + list(head_v.parameters())){marker}
for epoch in range(50):
    loss_g = F.binary_cross_entropy_with_logits(head_g(gnn(g)).squeeze(1), y)
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
for epoch in range(50):
    loss_v = F.binary_cross_entropy_with_logits(head_v(vit(x)).squeeze(1), y)
    opt_v.zero_grad()
    loss_v.backward()
    opt_v.step()

model = Hybrid()
model.graph.load_state_dict(gnn.state_dict())
model.image.load_state_dict(vit.state_dict())
{end_to_end}with torch.no_grad():
    logits = model(torch.from_numpy(val["g"]), torch.from_numpy(val["x"])).squeeze(1)
    acc = ((logits > 0).float() == torch.from_numpy(val["y"])).float().mean()
print("val accuracy", acc.item())
torch.save(model.state_dict(), "checkpoints/hybrid.pt")
"""
END_TO_END = """opt = torch.optim.Adam(list(model.parameters()) + list(head_g.parameters()))
for epoch in range(20):
    loss = F.binary_cross_entropy_with_logits(model(g, x).squeeze(1), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
"""


def test_isolated_training_sees_components_whose_parameters_are_joined_with_plus(tmp_path):
    """Each encoder trained with its own head, `Adam(list(enc.parameters()) + list(head.parameters()))`: the `+`
    dropped the modules, so neither optimizer was seen training a component and the rule was silent."""
    write_project(tmp_path, {"hybrid/__init__.py": "", "hybrid/models.py": HYBRID_MODELS,
                             "train_parts.py": TRAIN_PARTS.format(marker="  # expect: isolated-training",
                                                                  end_to_end="")})
    check_project(tmp_path, {"isolated-training"})


def test_isolated_training_silent_when_the_composite_is_then_trained_end_to_end(tmp_path):
    write_project(tmp_path, {"hybrid/__init__.py": "", "hybrid/models.py": HYBRID_MODELS,
                             "train_parts.py": TRAIN_PARTS.format(marker="", end_to_end=END_TO_END)})
    check_project(tmp_path, {"isolated-training"})


SELF_PLAY = '''
"""Self-play for tic-tac-toe: the network learns from the games it plays against itself."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class TicTacToe:
    def __init__(self):
        self.board = np.zeros(9, dtype=np.float32){marker}
        self.player = 1.0
        self.turns = 0

    def moves(self):
        return np.flatnonzero(self.board == 0)

    def play(self, move):
        {write}
        self.player = -self.player
        self.turns += 1

    def winner(self):
        b = self.board.reshape(3, 3)
        for line in [*b, *b.T, b.diagonal(), np.fliplr(b).diagonal()]:
            if abs(line.sum()) == 3:
                return float(np.sign(line.sum()))
        return 0.0 if self.turns < 9 and len(self.moves()) else None


class PolicyValue(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(9, 64), nn.ReLU())
        self.policy = nn.Linear(64, 9)
        self.value = nn.Linear(64, 1)

    def forward(self, x):
        h = self.body(x)
        return self.policy(h), torch.tanh(self.value(h)).squeeze(-1)


def self_play(model, games=32):
    examples = []
    for _ in range(games):
        game, history = TicTacToe(), []
        while game.winner() is None:
            with torch.no_grad():
                logits, _ = model(torch.from_numpy(game.board * game.player))
            legal = game.moves()
            p = F.softmax(logits[legal], dim=0).numpy()
            move = np.random.choice(legal, p=p / p.sum())
            history.append((game.board * game.player, move, game.player))
            game.play(move)
        examples += [(s, m, game.winner() * pl) for s, m, pl in history]
    return examples


def main():
    model = PolicyValue()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for it in range(200):
        data = self_play(model)
        states = torch.tensor(np.stack([s for s, _, _ in data]))
        moves = torch.tensor([m for _, m, _ in data])
        outcomes = torch.tensor([z for _, _, z in data], dtype=torch.float32)
        logits, values = model(states)
        loss = F.cross_entropy(logits, moves) + F.mse_loss(values, outcomes)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if it % 20 == 0:
            print(it, loss.item(), "win rate", sum(1 for _, _, z in data if z > 0) / len(data))


if __name__ == "__main__":
    main()
'''


def test_dummy_input_silent_on_board_states_filled_at_the_moves_self_play_chose(tmp_path):
    """AlphaZero-style self-play: the board starts as np.zeros and is written in place at the moves played,
    so the states the network learns from are made of those moves, not constants."""
    write_project(tmp_path, {"selfplay.py": SELF_PLAY.format(marker="", write="self.board[move] = self.player")})
    check_project(tmp_path, {"dummy-input", "synthetic-data"})


def test_dummy_input_fires_on_a_board_only_ever_written_at_a_fixed_cell(tmp_path):
    write_project(tmp_path, {"selfplay.py": SELF_PLAY.format(marker="  # expect: dummy-input",
                                                             write="self.board[4] = self.player")})
    check_project(tmp_path, {"dummy-input", "synthetic-data"})


PINN_WITH_DATA = '''
import numpy as np
import torch
from torch import nn

data = np.load("burgers_observations.npz")
x_obs = torch.tensor(data["x"], dtype=torch.float32)
u_obs = torch.tensor(data["u"], dtype=torch.float32)
net = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 1))
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
nu = 0.01 / np.pi

for it in range(20000):
    xt = torch.rand(2048, 2, requires_grad=True){marker}
    u = net(xt)
    {residual}
    loss = residual.pow(2).mean() + (net(x_obs) - u_obs).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    if it % 1000 == 0:
        with torch.no_grad():
            print(it, loss.item(), (net(x_obs) - u_obs).abs().max().item())
'''


def test_dummy_input_silent_on_collocation_points_beside_observations(tmp_path):
    """A PINN fitted to observations too (found in review): the network is called on random collocation points
    for the residual and on data from a file; the random call is the equation's, not a stand-in."""
    residual = ("du = torch.autograd.grad(u, xt, torch.ones_like(u), create_graph=True)[0]\n"
                "    residual = du[:, 1:] + u * du[:, :1]")
    write_project(tmp_path, {"pinn.py": PINN_WITH_DATA.format(marker="", residual=residual)})
    check_project(tmp_path, {"dummy-input", "synthetic-data"})


def test_dummy_input_fires_on_random_points_beside_observations_without_a_residual(tmp_path):
    write_project(tmp_path, {"pinn.py": PINN_WITH_DATA.format(marker="  # expect: dummy-input",
                                                              residual="residual = u - torch.sin(xt[:, :1])")})
    check_project(tmp_path, {"dummy-input", "synthetic-data"})


CAPTIONED = """
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms


    class Captioned(nn.Module):
        def __init__(self):
            super().__init__()
            self.image = nn.Linear(784, 64)
            self.text = nn.EmbeddingBag(1000, 64)
            self.head = nn.Linear(128, 10)

        def forward(self, x, tokens):
            return self.head(torch.cat([self.image(x.flatten(1)), self.text(tokens)], dim=1))
"""
STEP_FN = CAPTIONED + """

    def step(model, opt, x, tokens, y):
        loss = F.cross_entropy(model(x, tokens), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


    model = Captioned()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    captions = torch.from_numpy(np.load("captions.npy"))
    loader = DataLoader(datasets.MNIST("data", download=True, transform=transforms.ToTensor()), batch_size=64)
    for i, (x, y) in enumerate(loader):
        tokens = {tokens}{marker}
        step(model, opt, x, tokens, y)
"""
STEP_METHOD = CAPTIONED + """

    class Trainer:
        def __init__(self):
            self.model = Captioned()
            self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
            tf = transforms.ToTensor()
            self.loader = DataLoader(datasets.MNIST("data", download=True, transform=tf), batch_size=64)

        def step(self, x, tokens, y):
            loss = F.cross_entropy(self.model(x, tokens), y)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()

        def fit(self, captions):
            for i, (x, y) in enumerate(self.loader):
                tokens = {tokens}{marker}
                self.step(x, tokens, y)


    Trainer().fit(torch.from_numpy(np.load("captions.npy")))
"""


@pytest.mark.parametrize("template", [STEP_FN, STEP_METHOD], ids=["function", "method"])
def test_dummy_input_reaches_a_step_function_through_what_its_caller_passes(tmp_path, template):
    """The step's `model(x, tokens)` sees parameters: what the caller passes decides. Random captions beside real
    images were reported only when the loop called the model itself."""
    bad = write_project(tmp_path / "bad", {"train.py": template.format(
        tokens="torch.randint(0, 1000, (x.size(0), 12))", marker="  # expect: dummy-input")})
    report = check_project(bad, {"dummy-input"})
    assert next(f for f in report.findings if f.rule == "dummy-input").evidence["input"] == "argument 2"
    good = write_project(tmp_path / "good", {"train.py": template.format(
        tokens="captions[i * 64:(i + 1) * 64]", marker="")})
    check_project(good, {"dummy-input"})


LIGHTNING_STEP = """
    import lightning.pytorch as pl
    import torch
    import torch.nn as nn
    import torch.nn.functional as F


    class LitClassifier(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            x, y = {batch}
            loss = F.cross_entropy(self(x), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)
"""


def test_a_training_step_that_ignores_its_batch_is_reported_once_as_synthetic_data(tmp_path):
    """`training_step` is both a training loop and a forward-like method: its random batch was reported by
    synthetic-data and again by dummy-input, which leaves a loop fed nothing real to synthetic-data."""
    bad = write_project(tmp_path / "bad", {"model.py": LIGHTNING_STEP.format(
        batch="torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))  # expect: synthetic-data")})
    check_project(bad, {"synthetic-data", "dummy-input"})
    good = write_project(tmp_path / "good", {"model.py": LIGHTNING_STEP.format(batch="batch")})
    check_project(good, {"synthetic-data", "dummy-input"})


GAN_PAIR = """
    import torch
    import torch.nn as nn
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms


    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(100, 784), nn.Tanh())

        def forward(self, z):
            return self.net(z)


    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(784, 1)

        def forward(self, x):
            return self.net(x)


    class GANTrainer:
        def __init__(self):
            self.loader = DataLoader(datasets.MNIST("data", transform=transforms.ToTensor()), batch_size=64)
            self.G, self.D = Generator(), Discriminator()
            self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4)
            self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4)
            self.bce = nn.BCEWithLogitsLoss()

        def fit(self, epochs):
            for epoch in range(epochs):
                for real, _ in self.loader:
                    real = real.flatten(1)
                    fake = {fake}
                    d_loss = self.bce(self.D(real), torch.ones(64, 1))
                    d_loss = d_loss + self.bce(self.D(fake.detach()), torch.zeros(64, 1))
                    self.opt_d.zero_grad()
                    d_loss.backward()
                    self.opt_d.step()
                    g_loss = self.bce(self.D(self.G(torch.randn(64, 100))), torch.ones(64, 1))
                    self.opt_g.zero_grad()
                    g_loss.backward()
                    self.opt_g.step()


    GANTrainer().fit(20)
"""


def test_dummy_input_pairs_the_modules_of_a_tuple_assignment_to_self(tmp_path):
    """`self.G, self.D = Generator(), Discriminator()` gave both attributes both classes: `self.G` could be the
    discriminator, so `self.D(fake)` read as a module fed the generator's random latent."""
    good = write_project(tmp_path / "good", {"train.py": GAN_PAIR.format(fake="self.G(torch.randn(64, 100))")})
    check_project(good, {"dummy-input"})
    bad = write_project(tmp_path / "bad", {"train.py": GAN_PAIR.format(
        fake="torch.rand(64, 784)  # expect: dummy-input")})
    check_project(bad, {"dummy-input"})


LATENT_PARAM = """
    import torch
    import torch.nn as nn
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms


    class Painter(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(100, 784), nn.Tanh())

        def forward(self, {param}):
            return self.net({param})


    painter, critic = Painter(), nn.Linear(784, 1)
    opt = torch.optim.Adam(list(painter.parameters()) + list(critic.parameters()), lr=2e-4)
    loader = DataLoader(datasets.MNIST("data", transform=transforms.ToTensor()), batch_size=64)
    for real, _ in loader:
        painted = painter(torch.randn(64, 100)){marker}
        loss = critic(painted).mean() - critic(real.flatten(1)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
"""


def test_dummy_input_silent_on_random_values_given_to_a_parameter_named_as_a_latent(tmp_path):
    """Lightning's GAN example calls `self(torch.randn(b, latent_dim))`, whose `forward(self, z)` says it takes a
    latent. Only the argument's own name (`z = ...; G(z)`) was read."""
    good = write_project(tmp_path / "good", {"train.py": LATENT_PARAM.format(param="z", marker="")})
    check_project(good, {"dummy-input"})
    bad = write_project(tmp_path / "bad", {"train.py": LATENT_PARAM.format(
        param="x", marker="  # expect: dummy-input")})
    check_project(bad, {"dummy-input"})


GAUSSIAN_POLICY = """
import gym
import torch
import torch.nn as nn
from torch.distributions import Normal


class AddBias(nn.Module):
    def __init__(self, bias):
        super().__init__()
        self._bias = nn.Parameter(bias.unsqueeze(1))
        self.proj = nn.Linear(1, 1)

    def forward(self, x):
        if x.dim() == 2:
            bias = self._bias.t().view(1, -1)
        else:
            bias = self._bias.t().view(1, -1, 1, 1)
        return {returned}


class GaussianPolicy(nn.Module):
    def __init__(self, obs_dim, act_dim):
        super().__init__()
        self.fc_mean = nn.Linear(obs_dim, act_dim)
        self.logstd = AddBias(torch.zeros(act_dim))

    def forward(self, x):
        action_mean = self.fc_mean(x)
        zeros = torch.zeros(action_mean.size()){marker}
        action_logstd = self.logstd(zeros)
        return Normal(action_mean, action_logstd.exp())


def main():
    env = gym.make("Pendulum-v1")
    policy = GaussianPolicy(3, 1)
    opt = torch.optim.Adam(policy.parameters(), lr=1e-3)
    for update in range(1000):
        obs, _ = env.reset()
        logps, rews, done = [], [], False
        while not done:
            dist = policy(torch.as_tensor(obs, dtype=torch.float32))
            action = dist.sample()
            logps.append(dist.log_prob(action).sum())
            obs, reward, term, trunc, _ = env.step(action.numpy())
            rews.append(reward)
            done = term or trunc
        returns = torch.tensor([sum(rews[i:]) for i in range(len(rews))])
        loss = -(torch.stack(logps) * (returns - returns.mean())).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


if __name__ == "__main__":
    main()
"""


@pytest.mark.parametrize(("returned", "marker"), [
    ("x + bias", ""),  # a2c-ppo-acktr's DiagGaussian: zeros through AddBias are the learned log-std itself
    ("self.proj(x) + bias", "  # expect: dummy-input"),  # the input goes through a layer: zeros stand in for one
    ("x * bias", "  # expect: dummy-input"),
])
def test_dummy_input_constant_fed_to_a_component_that_adds_its_own_bias(tmp_path, returned, marker):
    write_project(tmp_path, {"train.py": GAUSSIAN_POLICY.format(returned=returned, marker=marker)})
    check_project(tmp_path, {"dummy-input"})
