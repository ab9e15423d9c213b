#!/usr/bin/python3
"""Writes the PyTorch reference vectors the kernels tests compare against.

Run from this directory with Debian's PyTorch (apt-get install python3-torch):
    /usr/bin/python3 gen_fixtures.py
Everything is float64; inputs come from a fixed seed.
"""
import json

import torch
import torch.nn.functional as F

torch.manual_seed(20180908)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1)]


def resize_cases():
    cases = []
    specs = [
        ("down 8x8 to 3x3", (1, 2, 8, 8), (3, 3)),
        ("down 7x9 to 3x4", (2, 1, 7, 9), (3, 4)),
        ("down by 4", (1, 1, 16, 16), (4, 4)),
        ("down 31 to 7", (1, 1, 31, 31), (7, 7)),
        ("up 5x6 to 9x11", (1, 1, 5, 6), (9, 11)),
        ("mixed 6x10 to 12x4", (1, 2, 6, 10), (12, 4)),
        ("identity", (1, 1, 4, 5), (4, 5)),
        ("single row", (1, 1, 1, 5), (3, 2)),
    ]
    for name, shape, size in specs:
        x = torch.rand(shape, dtype=torch.float64, requires_grad=True)
        y = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        gout = torch.rand(y.shape, dtype=torch.float64)
        (gx,) = torch.autograd.grad(y, x, gout)
        cases.append({"name": name, "shape": list(shape), "size": list(size),
                      "x": flat(x), "y": flat(y), "gout": flat(gout), "gx": flat(gx)})
    return cases


def batchnorm_cases():
    cases = []
    for name, shape, training in [("train", (3, 2, 4, 5), True), ("eval", (2, 3, 3, 2), False),
                                  ("train one image", (1, 2, 3, 3), True)]:
        c = shape[1]
        x = (torch.rand(shape, dtype=torch.float64) * 4 - 1).requires_grad_()
        gamma = (torch.rand(c, dtype=torch.float64) + 0.5).requires_grad_()
        beta = (torch.rand(c, dtype=torch.float64) - 0.5).requires_grad_()
        rmean = torch.rand(c, dtype=torch.float64)
        rvar = torch.rand(c, dtype=torch.float64) + 0.5
        rmean0, rvar0 = flat(rmean), flat(rvar)
        y = F.batch_norm(x, rmean, rvar, gamma, beta, training=training, momentum=0.1, eps=1e-5)
        gout = torch.rand(y.shape, dtype=torch.float64) - 0.5
        gx, gg, gb = torch.autograd.grad(y, (x, gamma, beta), gout)
        cases.append({"name": name, "shape": list(shape), "training": training,
                      "x": flat(x), "gamma": flat(gamma), "beta": flat(beta),
                      "mean": rmean0, "var": rvar0, "y": flat(y),
                      "new_mean": flat(rmean), "new_var": flat(rvar),
                      "gout": flat(gout), "gx": flat(gx), "ggamma": flat(gg), "gbeta": flat(gb)})
    return cases


def blur_cases():
    cases = []
    for name, shape, sigma, radius in [("sigma 1", (2, 1, 6, 7), 1.0, 3),
                                       ("wide kernel", (1, 2, 4, 5), 2.0, 6)]:
        a = torch.arange(-radius, radius + 1, dtype=torch.float64)
        k = torch.exp(-a * a / (2 * sigma * sigma))
        k = k / k.sum()
        x = torch.rand(shape, dtype=torch.float64, requires_grad=True)
        n, ch, h, w = shape
        # Rows (along W) then columns (along H), replicate padding, as a depthwise conv.
        t = F.pad(x, (radius, radius, 0, 0), mode="replicate")
        t = F.conv2d(t, k.view(1, 1, 1, -1).repeat(ch, 1, 1, 1), groups=ch)
        t = F.pad(t, (0, 0, radius, radius), mode="replicate")
        y = F.conv2d(t, k.view(1, 1, -1, 1).repeat(ch, 1, 1, 1), groups=ch)
        gout = torch.rand(y.shape, dtype=torch.float64)
        (gx,) = torch.autograd.grad(y, x, gout)
        cases.append({"name": name, "shape": list(shape), "sigma": sigma, "radius": radius,
                      "kernel": flat(k), "x": flat(x), "y": flat(y), "gout": flat(gout), "gx": flat(gx)})
    return cases


for fname, cases in [("resize.json", resize_cases()), ("batchnorm.json", batchnorm_cases()),
                     ("blur.json", blur_cases())]:
    with open(fname, "w") as f:
        json.dump({"generator": "gen_fixtures.py, torch " + torch.__version__, "cases": cases}, f)
        f.write("\n")
