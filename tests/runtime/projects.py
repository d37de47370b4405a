"""Fixture projects for the runtime tests: small, real training scripts; `# expect: slug` marks trace findings."""

from __future__ import annotations

DATA = """
    import numpy as np
    import torch
    from torch.utils.data import DataLoader, TensorDataset


    def loader(n=64, dim=8, classes=3, batch=8, workers=0, seed=0):
        rng = np.random.default_rng(seed)  # stands in for a file read: arrays reach torch through from_numpy
        x = torch.from_numpy(rng.normal(size=(n, dim)).astype("float32"))
        y = torch.from_numpy(rng.integers(0, classes, n))
        return DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True, num_workers=workers)
"""

CLASSIFIER = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from data import loader


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))

        def forward(self, x):
            return self.body(x)


    def train(workers=0, epochs=3, lr=0.1):
        model = Net()
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        for epoch in range(epochs):
            for x, y in loader(workers=workers):
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                print(f"epoch {epoch} loss {loss.item():.4f}")
"""

PROJECTS: dict[str, dict[str, str]] = {
    "multimodal_randn": {"data.py": DATA, "train.py": """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from data import loader


        class ImageEncoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 16)

            def forward(self, x):
                return torch.relu(self.fc(x))


        class TextEncoder(nn.Module):  # expect: no-gradient
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(12, 16)

            def forward(self, t):
                return torch.relu(self.fc(t))


        class Fusion(nn.Module):  # expect: dummy-input
            def __init__(self):
                super().__init__()
                self.head = nn.Linear(32, 3)

            def forward(self, image, text):
                return self.head(torch.cat([image, text], dim=1))


        class MultiModal(nn.Module):
            def __init__(self):
                super().__init__()
                self.image = ImageEncoder()
                self.text = TextEncoder()
                self.fusion = Fusion()

            def forward(self, x):
                text = torch.randn(x.shape[0], 16)  # TODO wire the text encoder
                return self.fusion(self.image(x), text)


        model = MultiModal()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for x, y in loader():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            print(f"loss {loss.item():.4f}")
    """},
    "detached_encoder": {"data.py": DATA, "train.py": """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from data import loader


        class Encoder(nn.Module):  # expect: no-gradient
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 16)

            def forward(self, x):
                return torch.tanh(self.fc(x))


        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = Encoder()
                self.head = nn.Linear(16, 3)

            def forward(self, x):
                return self.head(self.encoder(x).detach())


        model = Model()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in loader():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            print(f"loss {loss.item():.4f}")
    """},
    "three_optimizers": {"data.py": DATA, "train.py": """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from data import loader


        class System(nn.Module):  # expect: isolated-training
            def __init__(self):
                super().__init__()
                self.cnn = nn.Linear(8, 3)
                self.graph = nn.Linear(8, 3)
                self.llm = nn.Linear(8, 3)


        system = System()
        parts = [system.cnn, system.graph, system.llm]
        opts = [torch.optim.Adam(p.parameters(), lr=1e-3) for p in parts]
        for x, y in loader():
            for part, opt in zip(parts, opts):
                opt.zero_grad()
                loss = F.cross_entropy(part(x), y)
                loss.backward()
                opt.step()
                print(f"loss {loss.item():.4f}")
    """},
    "never_steps": {"data.py": DATA, "model.py": CLASSIFIER, "train.py": """
        import torch
        import torch.nn.functional as F
        from data import loader
        from model import Net

        model = Net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in loader():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            print(f"loss {loss.item():.4f}")
        torch.save(model.state_dict(), "model.pt")  # expect: untrained-checkpoint
    """},
    "cleared_grads": {"data.py": DATA, "train.py": """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from data import loader


        class Net(nn.Module):  # expect: no-gradient
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))

            def forward(self, x):
                return self.body(x)


        model = Net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for epoch in range(3):
            for x, y in loader(n=32):
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                opt.zero_grad()  # clears the gradients the step was meant to apply
                opt.step()
                print(f"loss {loss.item():.4f}")
            torch.save(model.state_dict(), f"checkpoint_{epoch}.pt")  # expect: untrained-checkpoint
    """},
    "placeholder_model": {"data.py": DATA, "pyproject.toml": """
        [tool.trainaudit]
        model = "models.Net"
    """, "models.py": """
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3))

            def forward(self, x):
                return self.body(x)


        class SimpleNet(nn.Module):  # expect: placeholder-model
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))

            def forward(self, x):
                return self.body(x)
    """, "train.py": """
        import os

        import torch
        import torch.nn.functional as F
        from data import loader
        from models import SimpleNet

        model = SimpleNet()  # Net is too slow on CPU for now
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for x, y in loader():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            print(f"loss {loss.item():.4f}")
        os.makedirs("checkpoints", exist_ok=True)
        torch.save(model.state_dict(), "checkpoints/model.pt")
    """},
    "tensorboard_metrics": {"data.py": DATA, "model.py": CLASSIFIER, "train.py": """
        import torch
        import torch.nn.functional as F
        from torch.utils.tensorboard import SummaryWriter
        from data import loader
        from model import Net

        model = Net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        writer = SummaryWriter("runs/exp")
        for step, (x, y) in enumerate(loader()):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            writer.add_scalar("train/loss", loss.item(), step)
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for x, y in loader(n=32, seed=1):
                correct += (model(x).argmax(1) == y).sum().item()
                total += len(y)
        writer.add_scalar("val/accuracy", correct / total, step)
        writer.close()
    """},
    "tensorboard_loss_only": {"data.py": DATA, "model.py": CLASSIFIER, "train.py": """
        import torch
        import torch.nn.functional as F
        from torch.utils.tensorboard import SummaryWriter
        from data import loader
        from model import Net

        model = Net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        writer = SummaryWriter("runs/exp")
        for step, (x, y) in enumerate(loader()):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            writer.add_scalar("train/loss", loss.item(), step)
        writer.close()
    """},
    "lightning": {"data.py": DATA, "train.py": """
        import lightning as L
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from data import loader


        class LitClassifier(L.LightningModule):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))

            def training_step(self, batch, batch_idx):
                x, y = batch
                logits = self.net(x)
                loss = F.cross_entropy(logits, y)
                self.log("train_loss", loss)
                self.log("train_acc", (logits.argmax(1) == y).float().mean())
                return loss

            def configure_optimizers(self):
                return torch.optim.SGD(self.parameters(), lr=0.1)


        if __name__ == "__main__":
            trainer = L.Trainer(max_steps=4, accelerator="cpu", enable_checkpointing=False, logger=False,
                                enable_progress_bar=False, enable_model_summary=False)
            trainer.fit(LitClassifier(), loader())
    """},
    "kwarg_randn": {"data.py": DATA, "train.py": """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from data import loader


        class ImageEncoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 16)

            def forward(self, x):
                return torch.relu(self.fc(x))


        class AudioEncoder(nn.Module):  # expect: no-gradient
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(20, 16)

            def forward(self, a):
                return torch.relu(self.fc(a))


        class Fusion(nn.Module):  # expect: dummy-input
            def __init__(self):
                super().__init__()
                self.head = nn.Linear(32, 3)

            def forward(self, image, audio=None):
                return self.head(torch.cat([image, audio], dim=1))


        class AudioVisual(nn.Module):
            def __init__(self):
                super().__init__()
                self.image = ImageEncoder()
                self.audio = AudioEncoder()
                self.fusion = Fusion()

            def forward(self, x):
                audio = torch.randn(x.shape[0], 16)  # until the audio pipeline exists
                return self.fusion(self.image(x), audio=audio)


        model = AudioVisual()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for x, y in loader():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            print(f"loss {loss.item():.4f}")
    """},
    "cat_randn": {"data.py": DATA, "train.py": """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from data import loader


        class ImageEncoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 16)

            def forward(self, x):
                return torch.relu(self.fc(x))


        class GraphEncoder(nn.Module):  # expect: no-gradient
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(10, 16)

            def forward(self, g):
                return torch.relu(self.fc(g))


        class Multimodal(nn.Module):
            def __init__(self):
                super().__init__()
                self.image = ImageEncoder()
                self.graph = GraphEncoder()
                self.head = nn.Linear(32, 3)

            def forward(self, x):
                feats = torch.cat([self.image(x), torch.randn(x.shape[0], 16)], dim=1)  # expect: dummy-input
                return self.head(feats)


        model = Multimodal()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for x, y in loader():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            print(f"loss {loss.item():.4f}")
    """},
    "nan_loss": {"data.py": DATA, "model.py": CLASSIFIER, "train.py": """
        import torch
        from data import loader
        from model import Net

        model = Net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in loader():
            opt.zero_grad()
            # The log of a negative number is NaN, on every batch whatever the random weights: the gradient (1/x)
            # stays finite, so a log of raw logits alone (NaN only while one of them is negative) was flaky.
            loss = torch.log(-model(x).abs().mean() - 1)
            loss.backward()
            opt.step()
            print(f"loss {loss.item():.4f}")
    """},
    "frozen_backbone": {"data.py": DATA, "train.py": """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from data import loader


        class Backbone(nn.Module):  # expect: no-gradient
            def __init__(self):
                super().__init__()
                self.layers = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 16), nn.LayerNorm(16))

            def forward(self, x):
                return self.layers(x)


        class Classifier(nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = Backbone()
                self.backbone.requires_grad_(False)
                self.head = nn.Linear(16, 3)

            def forward(self, x):
                return self.head(self.backbone(x))


        model = Classifier()
        opt = torch.optim.AdamW(model.head.parameters(), lr=1e-3)
        for x, y in loader():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            print(f"loss {loss.item():.4f}")
    """},
    "gan": {"data.py": DATA, "train.py": """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from data import loader


        class Generator(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 8))

            def forward(self, z):
                return self.net(z)


        class Discriminator(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(8, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

            def forward(self, x):
                return self.net(x)


        G, D = Generator(), Discriminator()
        opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        for real, _ in loader():
            z = torch.randn(real.shape[0], 4)
            fake = G(z)
            opt_d.zero_grad()
            d_loss = (F.binary_cross_entropy_with_logits(D(real), torch.ones(real.shape[0], 1))
                      + F.binary_cross_entropy_with_logits(D(fake.detach()), torch.zeros(real.shape[0], 1)))
            d_loss.backward()
            opt_d.step()
            opt_g.zero_grad()
            g_loss = F.binary_cross_entropy_with_logits(D(fake), torch.ones(real.shape[0], 1))
            g_loss.backward()
            opt_g.step()
            print(f"d_loss {d_loss.item():.4f} g_loss {g_loss.item():.4f}")
    """},
    "vae": {"data.py": DATA, "train.py": """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from data import loader


        class VAE(nn.Module):
            def __init__(self):
                super().__init__()
                self.enc = nn.Linear(8, 16)
                self.mu = nn.Linear(16, 4)
                self.logvar = nn.Linear(16, 4)
                self.dec = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 8))

            def forward(self, x):
                h = torch.relu(self.enc(x))
                mu, logvar = self.mu(h), self.logvar(h)
                z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
                return self.dec(z), mu, logvar


        model = VAE()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for x, _ in loader():
            opt.zero_grad()
            recon, mu, logvar = model(x)
            kld = -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())
            loss = F.mse_loss(recon, x) + kld
            loss.backward()
            opt.step()
            print(f"loss {loss.item():.4f} kld {kld.item():.4f}")
    """},
    "diffusion": {"data.py": DATA, "train.py": """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from data import loader

        T = 100
        betas = torch.linspace(1e-4, 0.02, T)
        alphas_bar = torch.cumprod(1 - betas, dim=0)


        class Denoiser(nn.Module):
            def __init__(self):
                super().__init__()
                self.time = nn.Embedding(T, 16)
                self.inp = nn.Linear(8, 16)
                self.out = nn.Sequential(nn.SiLU(), nn.Linear(16, 8))

            def forward(self, x_t, t):
                return self.out(self.inp(x_t) + self.time(t))


        model = Denoiser()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for x0, _ in loader():
            t = torch.randint(0, T, (x0.shape[0],))
            noise = torch.randn_like(x0)
            a = alphas_bar[t].unsqueeze(1)
            x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
            opt.zero_grad()
            loss = F.mse_loss(model(x_t, t), noise)
            loss.backward()
            opt.step()
            print(f"loss {loss.item():.4f}")
    """},
    "discarded_aux": {"data.py": DATA, "train.py": """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from data import loader


        class AuxHead(nn.Module):  # expect: no-gradient, discarded-output
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 3)

            def forward(self, x):
                return self.fc(x)


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Linear(8, 3)
                self.aux = AuxHead()

            def forward(self, x):
                self.aux(x)  # computed, then thrown away
                return self.body(x)


        model = Net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in loader():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            print(f"loss {loss.item():.4f}")
    """},
    "crash": {"data.py": DATA, "model.py": CLASSIFIER, "train.py": """
        import torch
        import torch.nn.functional as F
        from data import loader
        from model import Net

        model = Net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for i, (x, y) in enumerate(loader()):
            if i == 2:
                raise RuntimeError("shape mismatch in the data pipeline")  # expect: run-failed
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            print(f"loss {loss.item():.4f}")
    """},
    "sys_exit": {"train.py": """
        import sys

        import torch

        if not torch.cuda.is_available():
            print("this script needs a GPU")
            sys.exit(3)
    """},
    "hang": {"train.py": """
        import time

        import torch

        model = torch.nn.Linear(4, 2)
        time.sleep(120)  # waits for a data server that never answers
    """},
    "workers": {"data.py": DATA, "model.py": CLASSIFIER, "train.py": """
        from model import train

        if __name__ == "__main__":
            train(workers=2)
    """},
    "argv": {"data.py": DATA, "model.py": CLASSIFIER, "train.py": """
        import argparse

        from model import train

        parser = argparse.ArgumentParser()
        parser.add_argument("--epochs", type=int, required=True)
        parser.add_argument("--lr", type=float, default=0.1)
        args = parser.parse_args()
        train(epochs=args.epochs, lr=args.lr)
    """},
    "smoke": {"pkg/__init__.py": "", "pkg/model.py": """
        import torch
        import torch.nn as nn


        def build():
            torch.manual_seed(0)
            return nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 5))


        def batch():
            g = torch.Generator().manual_seed(1)
            return torch.randn(16, 10, generator=g), torch.randint(0, 5, (16,), generator=g)
    """},
}
