#!/usr/bin/env python3
"""How far the APS events are from the flat box of their antenna chain, by the order they are read in.

In the order the chain was built (start, emissions, spectator N), an APS event's chain coordinates
log(s_{k,i-1} / s_{i-1,N}) and log(s_{k,N} / s_{i-1,N}) lie in [-log xi_max, log xi_max]. Shuffled
events lose that order. This prints, for the true order (events from `phasegen data --no-shuffle`),
a random order, and orders drawn step by step with the antenna function s_{i-1,N} / (s_{i-1,k} s_{k,N})
as weight (a generic "shower history": the largest pair as dipole, then each next emission among the
rest in proportion to weight^T, or the largest weight), the fraction of events with every coordinate
inside the box, the fraction of coordinates inside it, and quantiles of the coordinates.

usage: scripts/aps-chain-order.py CHAIN.pt SHUFFLED.pt [XI_MAX]   (needs python3-torch)
   e.g. phasegen data -t aps -n 10 --xi-max 30 --no-shuffle -e 50000 --seed 41 -o chain.pt
        phasegen data -t aps -n 10 --xi-max 30 -e 50000 --seed 42 -o shuffled.pt
"""
import math
import sys

import torch


def pair_dots(events):
    """p_i.p_j of massless events stored as [B, N, 3] momenta or [B, N, 4] (E, p)."""
    p = events[..., 1:] if events.shape[-1] == 4 else events
    energy = p.norm(dim=-1)
    dots = energy[:, :, None] * energy[:, None, :] - (p[:, :, None, :] * p[:, None, :, :]).sum(-1)
    return dots.clamp_min(1e-300)


def chain_coordinates(dots, order):
    """The 2 (N - 2) log-ratios of the chain read in `order` [B, N] (start ... spectator)."""
    batch, n = order.shape
    rows = torch.arange(batch)
    spectator = order[:, -1]
    out = []
    for i in range(1, n - 1):
        previous, k = order[:, i - 1], order[:, i]
        dipole = dots[rows, previous, spectator]
        out += [torch.log(dots[rows, k, previous] / dipole), torch.log(dots[rows, k, spectator] / dipole)]
    return torch.stack(out, 1)


def antenna_order(dots, power=1.0, greedy=False):
    batch, n, _ = dots.shape
    rows = torch.arange(batch)
    pick_from = (lambda w: w.argmax(1)) if greedy else (lambda w: torch.multinomial(w / w.sum(1, True), 1)[:, 0])
    pairs = dots.clone()
    pairs[:, range(n), range(n)] = 0.0
    first = pick_from(pairs.reshape(batch, -1) ** power)
    start, spectator = first // n, first % n
    used = torch.zeros(batch, n, dtype=torch.bool)
    used[rows, start] = True
    used[rows, spectator] = True
    order, previous = [start], start
    for _ in range(n - 2):
        weight = dots[rows, previous, spectator][:, None] / (dots[rows, previous, :] * dots[rows, spectator, :])
        k = pick_from(weight.masked_fill(used, 0.0) ** power)
        used[rows, k] = True
        order.append(k)
        previous = k
    order.append(spectator)
    return torch.stack(order, 1)


def report(name, coords, half_width):
    inside = coords.abs() <= half_width * (1 + 1e-12)
    q = torch.quantile(coords.flatten()[:1000000], torch.tensor([0.001, 0.5, 0.999], dtype=coords.dtype))
    print(f"{name:34s} events in box {inside.all(1).double().mean():.3f}   coordinates in box "
          f"{inside.double().mean():.3f}   quantiles 0.1/50/99.9 % {', '.join(f'{x:.2f}' for x in q.tolist())}")


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    torch.manual_seed(1)
    half_width = math.log(float(sys.argv[3]) if len(sys.argv) == 4 else 30.0)
    chain = pair_dots(torch.load(sys.argv[1]).double())
    shuffled = pair_dots(torch.load(sys.argv[2]).double())
    batch, n = chain.shape[:2]
    report("chain order", chain_coordinates(chain, torch.arange(n).expand(batch, n)), half_width)
    random = torch.stack([torch.randperm(n) for _ in range(shuffled.shape[0])])
    report("random order", chain_coordinates(shuffled, random), half_width)
    for power in (1.0, 2.0, 4.0):
        report(f"antenna history, weight^{power:g}", chain_coordinates(shuffled, antenna_order(shuffled, power)), half_width)
    report("antenna history, largest weight", chain_coordinates(shuffled, antenna_order(shuffled, greedy=True)), half_width)


if __name__ == "__main__":
    main()
