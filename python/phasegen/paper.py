"""The layout of the paper's own code: events as [n, N, 3] float32 3-momenta at unit total energy
(E = |p| for massless particles), the form of its data files and of its models' outputs.

    x = phasegen.to_paper(p, sqrt_s=91.2)     # [n, N, 3] float32, unit energy
    p = phasegen.from_paper(x, sqrt_s=91.2)   # [n, N, 4] float64, exact events again

float32 keeps about 7 digits, so the paper's tensors conserve momentum only to ~1e-7. from_paper
reads their 3-vectors as a q-space state and applies the RAMBO map: a boost of ~1e-7 and a
rescaling by 1 + ~1e-7 that makes every event exact again, within float32 round-off of the input.
"""

import torch

from ._core import Error, rambo_map


def to_paper(p, sqrt_s=None):
    """Events [n, N, 4] -> the paper's [n, N, 3] float32 3-momenta at unit total energy."""
    if not isinstance(p, torch.Tensor) or p.dim() != 3 or p.shape[-1] != 4:
        raise Error("to_paper: expected events [n, N, 4], but got "
                    + (str(list(p.shape)) if isinstance(p, torch.Tensor) else type(p).__name__))
    if sqrt_s is None:
        if p.shape[0] == 0:
            raise Error("to_paper: sqrt_s is taken from the first event, but there are no events (give sqrt_s)")
        sqrt_s = float(p[0, :, 0].sum())
    if not sqrt_s > 0:
        raise Error("to_paper: expected sqrt_s > 0, but got " + str(sqrt_s))
    return (p[..., 1:].to(torch.float64) / sqrt_s).to(torch.float32)


def from_paper(x, sqrt_s=1.0, exact=True):
    """The paper's [n, N, 3] 3-momenta (unit energy, any float type) -> events [n, N, 4] float64 at sqrt_s.

    exact: through the RAMBO map, so that every event conserves momentum to float64 round-off
    (False: E = |p| and a plain rescaling, keeping the input's ~1e-7 violation)."""
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != 3:
        raise Error("from_paper: expected the paper's [n, N, 3] tensors, but got "
                    + (str(list(x.shape)) if isinstance(x, torch.Tensor) else type(x).__name__))
    if not x.is_floating_point():
        raise Error("from_paper: expected a floating-point tensor, but got " + str(x.dtype))
    q = x.to(torch.float64)
    if exact:
        return rambo_map(q, sqrt_s)
    if not sqrt_s > 0:
        raise Error("from_paper: expected sqrt_s > 0, but got " + str(sqrt_s))
    return torch.cat([q.norm(dim=-1, keepdim=True), q], dim=-1) * sqrt_s
