#!/usr/bin/env python3
"""The Python half of the side-by-side benchmark: the same work as bench/side_by_side.cpp, written
here with PyTorch the way the paper's code does it (autograd for the exact divergence, one backward
pass per coordinate). bench/side-by-side.sh runs both; alone:

    python3 bench/reference.py train-exact [--repeats 20] [--threads 1] [--events 100000]

--threads 0 leaves PyTorch's default (one thread per CPU, which a user running the paper's code gets).

Work: train-exact, train-transformer, train-vp, sample-langevin, sample-flow (see side_by_side.cpp).
Prints one line "WORK RATE UNIT".
"""
import argparse
import math
import time

import torch
import torch.nn.functional as F

BATCH = 1024
STEPS = 500  # the paper's schedule: gamma linear 0.002 -> 0.01


def embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=t.dtype) * (-math.log(10000.0) / half))
    angles = (t * 1000.0).unsqueeze(1) * freqs.unsqueeze(0)
    return torch.cat([torch.sin(angles), torch.cos(angles)], 1)


class Mlp(torch.nn.Module):
    """The paper's MLP: [flattened q, embedding of t] -> 4 x 256 SiLU -> 3N."""

    def __init__(self, particles=3, hidden=256, layers=4, time_dim=64):
        super().__init__()
        self.time_dim = time_dim
        sizes = [3 * particles + time_dim] + [hidden] * layers
        self.hidden = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = torch.nn.Linear(hidden, 3 * particles)

    def forward(self, q, t):
        x = torch.cat([q.flatten(1), embedding(t, self.time_dim)], 1)
        for layer in self.hidden:
            x = F.silu(layer(x))
        return self.out(x).view(q.shape)


class Transformer(torch.nn.Module):
    """Tokens [q, q_hat, log|q|, embedding of t] -> d, pre-LayerNorm attention blocks -> 3 per particle."""

    def __init__(self, d=128, blocks=4, heads=4, time_dim=64):
        super().__init__()
        self.d, self.heads, self.time_dim = d, heads, time_dim
        self.embed = torch.nn.Linear(7 + time_dim, d)
        self.blocks = torch.nn.ModuleList(
            torch.nn.ModuleDict({
                "norm1": torch.nn.LayerNorm(d), "qkv": torch.nn.Linear(d, 3 * d), "proj": torch.nn.Linear(d, d),
                "norm2": torch.nn.LayerNorm(d), "up": torch.nn.Linear(d, 4 * d), "down": torch.nn.Linear(4 * d, d),
            }) for _ in range(blocks))
        self.final_norm = torch.nn.LayerNorm(d)
        self.head = torch.nn.Linear(d, 3)

    def forward(self, q, t):
        batch, n, _ = q.shape
        d, h = self.d, self.heads
        r = q.norm(dim=2, keepdim=True)
        emb = embedding(t, self.time_dim).unsqueeze(1).expand(-1, n, -1)
        x = self.embed(torch.cat([q, q / r.clamp_min(1e-12), torch.log(r.clamp_min(1e-12)), emb], 2))
        scale = 1.0 / math.sqrt(d // h)
        for b in self.blocks:
            qkv = b["qkv"](b["norm1"](x)).view(batch, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
            attention = torch.softmax(torch.matmul(qkv[0], qkv[1].transpose(-2, -1)) * scale, -1)
            mixed = torch.matmul(attention, qkv[2]).transpose(1, 2).reshape(batch, n, d)
            x = x + b["proj"](mixed)
            x = x + b["down"](F.silu(b["up"](b["norm2"](x))))
        return self.head(self.final_norm(x))


def randomised(net):
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn_like(p) * 0.05)
    return net


def rambo_prior(batch, particles, dtype=torch.float32):
    """RAMBO's q: energy ~ Gamma(2, 1), isotropic direction."""
    u = torch.rand(batch, particles, 4, dtype=torch.float64)
    energy = -torch.log(u[..., 0] * u[..., 1])
    cos = 2.0 * u[..., 2] - 1.0
    sin = torch.sqrt(1.0 - cos * cos)
    phi = 2.0 * math.pi * u[..., 3]
    return (energy.unsqueeze(-1) * torch.stack([sin * torch.cos(phi), sin * torch.sin(phi), cos], -1)).to(dtype)


def rambo_map(q, sqrt_s=1.0):
    """The RAMBO boost and rescaling of massless q [B, N, 3] to CM-frame momenta [B, N, 4]."""
    e = q.norm(dim=2)
    total_e, total_p = e.sum(1), q.sum(1)
    mass = torch.sqrt(total_e ** 2 - (total_p ** 2).sum(1))
    b = -total_p / mass.unsqueeze(1)
    x = sqrt_s / mass
    gamma = total_e / mass
    a = 1.0 / (1.0 + gamma)
    bq = (q * b.unsqueeze(1)).sum(2)
    energy = x.unsqueeze(1) * (gamma.unsqueeze(1) * e + bq)
    momentum = x.view(-1, 1, 1) * (q + b.unsqueeze(1) * (e + a.unsqueeze(1) * bq).unsqueeze(2))
    return torch.cat([energy.unsqueeze(2), momentum], 2)


def reference_score(q, eps=0.2):
    """The regularised score of p_ref: -q (1/r + 1/(r^2 + eps^2))."""
    r = q.norm(dim=2, keepdim=True)
    return -q * (1.0 / r + 1.0 / (r * r + eps * eps))


def gammas():
    return torch.linspace(0.002, 0.01, STEPS, dtype=torch.float64)


def exact_divergence(out, q):
    flat = out.flatten(1)
    div = torch.zeros(out.shape[0], dtype=out.dtype)
    for k in range(flat.shape[1]):
        grad = torch.autograd.grad(flat[:, k].sum(), q, retain_graph=True, create_graph=True)[0]
        div = div + grad.flatten(1)[:, k]
    return div


def hutchinson_divergence(out, q):
    v = torch.randint(0, 2, out.shape, dtype=out.dtype) * 2 - 1
    grad = torch.autograd.grad((out * v).sum(), q, create_graph=True)[0]
    return (grad * v).flatten(1).sum(1)


def timed(repeats, step):
    step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return repeats / (time.perf_counter() - start)


def train_rate(net, repeats, loss_of):
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)

    def step():
        optimizer.zero_grad()
        loss = loss_of()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()

    return timed(repeats, step)


def train_langevin(net, particles, divergence, repeats):
    q = rambo_prior(BATCH, particles)
    t = torch.randint(1, STEPS + 1, (BATCH,))

    def loss_of():
        x = q.detach().requires_grad_(True)
        s = net(x, t.float() / STEPS)
        div = exact_divergence(s, x) if divergence == "exact" else hutchinson_divergence(s, x)
        w = 1.0 - t.float() / STEPS + 0.01
        return (w * (0.5 * s.pow(2).flatten(1).sum(1) + div)).mean()

    return train_rate(net, repeats, loss_of)


def train_vp(repeats):
    net = randomised(Mlp())
    z = torch.randn(BATCH, 3, 3)

    def loss_of():
        t = 1e-4 + (1.0 - 1e-4) * torch.rand(BATCH, dtype=torch.float64)
        log_alpha2 = -(0.1 * t + 9.95 * t * t)
        alpha = torch.exp(0.5 * log_alpha2).float().view(-1, 1, 1)
        sigma = torch.sqrt(-torch.expm1(log_alpha2)).float().view(-1, 1, 1)
        eps = torch.randn_like(z)
        return (net(alpha * z + sigma * eps, t.float()) - eps).pow(2).flatten(1).sum(1).mean()

    return train_rate(net, repeats, loss_of)


@torch.no_grad()
def sample_langevin(net, batch):
    """The paper's reverse Euler-Maruyama over 500 steps, posterior variance, noiseless last step."""
    g = gammas()
    sigma2 = torch.cat([torch.zeros(1, dtype=torch.float64), 2.0 * torch.cumsum(g, 0)])
    q = rambo_prior(batch, 3)
    for t in range(STEPS, 0, -1):
        gamma = g[t - 1].item()
        s = net(q, torch.full((batch,), t / STEPS))
        q = q + 2.0 * gamma * s - gamma * reference_score(q)
        variance = 2.0 * gamma * (sigma2[t - 1] / sigma2[t]).item()
        if variance > 0:
            q = q + math.sqrt(variance) * torch.randn_like(q)
    return rambo_map(q.double())


@torch.no_grad()
def sample_flow(net, batch, nfe=50):
    """q-space flow matching from the RAMBO prior, Heun from t = 1 to 0."""
    steps = nfe // 2
    h = -1.0 / steps
    x = rambo_prior(batch, 3)
    for i in range(steps):
        t = 1.0 + h * i
        k1 = net(x, torch.full((batch,), t))
        k2 = net(x + h * k1, torch.full((batch,), t + h))
        x = x + (0.5 * h) * (k1 + k2)
    return rambo_map(x.double())


def sample_rate(sampler, events, repeats):
    net = randomised(Mlp())
    batch = min(events, 10000)

    def run():
        for done in range(0, events, batch):
            sampler(net, min(batch, events - done))

    return timed(repeats, run) * events


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work")
    parser.add_argument("--repeats", type=int, default=0)
    parser.add_argument("--events", type=int, default=100000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.threads > 0:  # 0: PyTorch's default (one thread per CPU), as the paper's code runs
        torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    repeats = args.repeats
    unit = "steps/s"
    if args.work == "train-exact":
        rate = train_langevin(randomised(Mlp()), 3, "exact", repeats or 20)
    elif args.work == "train-transformer":
        rate = train_langevin(randomised(Transformer()), 10, "hutchinson", repeats or 5)
    elif args.work == "train-vp":
        rate = train_vp(repeats or 50)
    elif args.work in ("sample-langevin", "sample-flow"):
        sampler = sample_langevin if args.work == "sample-langevin" else sample_flow
        rate, unit = sample_rate(sampler, args.events, repeats or 1), "events/s"
    else:
        raise SystemExit(f"reference.py: unknown work '{args.work}'")
    print(args.work, rate, unit)


if __name__ == "__main__":
    main()
