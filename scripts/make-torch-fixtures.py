#!/usr/bin/python3
"""Writes the PyTorch fixtures under internal/torchfile/testdata, once, with Debian's
python3-torch (1.13) and python3-torchvision (0.14):

    apt-get install -y python3-torch python3-torchvision
    /usr/bin/python3 scripts/make-torch-fixtures.py

The Go tests read the files this writes and never run Python. Three groups:

  reader/    small files for the readers: every layout, dtype and bad input
  resnet/    torchvision-layout ResNet-18 and ResNet-50 at base width 8 (instead of
             64), with calibrated batch-norm statistics: the state_dict, an input and
             its logits, for parity tests of a Go ResNet
  official/  a model with the layout of the official Saliency Sampler
             (recasens/Saliency-Sampler, Saliency_Sampler in saliency_sampler.py), at
             reduced width and resolution, random weights, a strongly peaked saliency
             map, a few images and the intermediates of its forward pass

Everything is seeded, so a rerun writes the same values (up to PyTorch's version).
Reference outputs are computed in float64 from the float32 weights and inputs that
are stored, and written as float32 safetensors (written by hand below: Debian has no
safetensors package).
"""

import collections
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "internal", "torchfile", "testdata")
torch.set_num_threads(1)


def out(*parts):
    path = os.path.join(ROOT, *parts)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


# ---------------------------------------------------------------- safetensors

ST_DTYPES = {
    torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def write_safetensors(path, tensors, metadata=None):
    """The safetensors layout: u64 little-endian header length, a JSON header
    (padded with spaces to a multiple of 8), then the tensors' little-endian bytes
    back to back in the order given."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
        elif t.dtype == torch.bool:
            raw = t.numpy().astype(np.uint8).tobytes()
        else:
            raw = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def manifest(path, sd):
    """Writes, beside a state_dict fixture, what PyTorch says it holds: each
    tensor's name (in order), dtype, shape, first values, float64 sum, sum of
    magnitudes and a position-weighted sum (sum of v[i] * (i % 7 + 1) in row-major
    order, which a wrong stride changes), for the Go tests to check the readers."""
    entries = []
    for name, t in sd.items():
        flat = t.detach().reshape(-1)
        e = {"name": name, "dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape)}
        if t.is_floating_point():
            v = flat.double()
            e["first"] = [float(x) for x in v[:4]]
            e["sum"] = float(v.sum())
            e["abs_sum"] = float(v.abs().sum())
            e["wsum"] = float((v * (torch.arange(v.numel()) % 7 + 1)).sum())
        else:
            v = flat.long()
            e["first"] = [int(x) for x in v[:4]]
            e["sum"] = int(v.sum())
            e["abs_sum"] = int(v.abs().sum())
        entries.append(e)
    with open(path + ".json", "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(e) for e in entries) + "\n]\n")


def save(sd, path, **kw):
    torch.save(sd, path, **kw)
    manifest(path, sd)


# ---------------------------------------------------------------- reader fixtures

def reader_fixtures():
    # Values the Go tests recompute: base[i][j] = 0.5*(4*i+j) - 1.
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.5 - 1
    sd = collections.OrderedDict()
    sd["base"] = base
    sd["transposed"] = base.t()              # [4, 3], strides (1, 4): non-contiguous
    sd["slice"] = base[1:, ::2]              # [2, 2], offset 4, strides (8, 2)
    sd["row"] = base[2]                      # [4], offset 8, shares base's storage
    sd["scalar"] = torch.tensor(2.5)         # 0-d
    sd["num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
    sd["ints"] = torch.tensor([-3, 0, 5, 1 << 40], dtype=torch.int64)
    sd["f64"] = torch.tensor([[1.0 / 3, -2.0], [1e-3, 4.0]], dtype=torch.float64)
    sd["f16"] = torch.tensor([1.0, -0.5, 65504.0, 6e-8], dtype=torch.float16)   # max and a subnormal
    sd["bf16"] = torch.tensor([1.0, -3.0, 0.15625], dtype=torch.bfloat16)
    sd["mask"] = torch.tensor([True, False, True])
    sd["empty"] = torch.zeros(0, 3)
    save(sd, out("reader", "basic.pth"))
    save(sd, out("reader", "basic_legacy.pth"), _use_new_zipfile_serialization=False)
    write_safetensors(out("reader", "basic.safetensors"),
                      collections.OrderedDict((k, sd[k]) for k in
                                              ["base", "transposed", "scalar", "num_batches_tracked",
                                               "ints", "f64", "f16", "bf16", "mask", "empty"]),
                      metadata={"format": "pt"})
    manifest(out("reader", "basic.safetensors"), collections.OrderedDict(
        (k, sd[k]) for k in ["base", "transposed", "scalar", "num_batches_tracked",
                             "ints", "f64", "f16", "bf16", "mask", "empty"]))

    # A real module's state_dict (an OrderedDict with a _metadata attribute), as
    # is, in a training checkpoint as the official main.py saves it, and nested.
    torch.manual_seed(1)
    m = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3, 2))
    with torch.no_grad():
        m[1].running_mean.uniform_(-1, 1)
        m[1].running_var.uniform_(0.5, 2)
        m[1].num_batches_tracked.fill_(11)
    save(m.state_dict(), out("reader", "module.pth"))
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    m(torch.randn(2, 2, 3, 3)).sum().backward()
    opt.step()
    torch.save({"epoch": 3, "arch": "tiny", "state_dict": m.state_dict(), "best_prec1": 71.5,
                "optimizer": opt.state_dict()}, out("reader", "checkpoint.pth"))
    manifest(out("reader", "checkpoint.pth"), m.state_dict())
    nested = collections.OrderedDict()
    nested["encoder"] = collections.OrderedDict(conv=collections.OrderedDict(weight=base.clone()))
    nested["head"] = collections.OrderedDict(bias=torch.tensor([1.0, 2.0]))
    torch.save(nested, out("reader", "nested.pth"))
    manifest(out("reader", "nested.pth"), {"encoder.conv.weight": base, "head.bias": nested["head"]["bias"]})

    # Bad input.
    torch.jit.script(m).save(out("reader", "torchscript.pt"))
    torch.save(m, out("reader", "whole_model.pth"))
    torch.save(m, out("reader", "whole_model_legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save({"epoch": 3, "lr": 0.1}, out("reader", "not_state_dict.pth"))
    torch.save({"z": torch.zeros(2, dtype=torch.complex64)}, out("reader", "complex.pth"))

    class Evil:
        def __init__(self, fn, arg):
            self.fn, self.arg = fn, arg

        def __reduce__(self):
            return (self.fn, (self.arg,))

    torch.save({"w": torch.zeros(2), "x": Evil(os.system, "echo pwned")}, out("reader", "forbidden_os_system.pth"))
    torch.save({"w": torch.zeros(2), "x": Evil(eval, "1+1")}, out("reader", "forbidden_eval.pth"))
    with open(out("reader", "basic.pth"), "rb") as f:
        whole = f.read()
    with open(out("reader", "truncated.pth"), "wb") as f:
        f.write(whole[: len(whole) // 2])


# ---------------------------------------------------------------- ResNets

class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(y + skip)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride, downsample):
        super().__init__()
        # torchvision (v1.5) puts the stride on the 3x3 convolution.
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(y + skip)


DEPTHS = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet34": (BasicBlock, [3, 4, 6, 3]),
          "resnet50": (Bottleneck, [3, 4, 6, 3]), "resnet101": (Bottleneck, [3, 4, 23, 3])}


class ResNet(nn.Module):
    """torchvision's ResNet with its parameter names, at base width `width`
    (torchvision's is 64: stages of width, 2*width, 4*width, 8*width planes).
    `upto="layer3"` stops after layer3, as the official saliency network does
    (ResNetZoom in saliency_network.py, whose layer4 and fc exist but are unused)."""

    def __init__(self, depth, width=64, num_classes=1000, upto=None):
        super().__init__()
        block, counts = DEPTHS[depth]
        self.upto = upto
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        cin = width
        for i, n in enumerate(counts):
            planes, stride = width << i, 1 if i == 0 else 2
            blocks = []
            for b in range(n):
                down = None
                if b == 0 and (stride != 1 or cin != planes * block.expansion):
                    down = nn.Sequential(nn.Conv2d(cin, planes * block.expansion, 1, stride, bias=False),
                                         nn.BatchNorm2d(planes * block.expansion))
                blocks.append(block(cin, planes, stride if b == 0 else 1, down))
                cin = planes * block.expansion
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*blocks))
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():   # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer3(self.layer2(self.layer1(x)))
        if self.upto == "layer3":
            return x
        x = self.layer4(x)
        # Global average pooling: torchvision's AdaptiveAvgPool2d(1); the official
        # code's AvgPool2d(7) is the same at its 224 x 224 input.
        return self.fc(torch.flatten(x.mean((2, 3), keepdim=True), 1))


def check_against_torchvision():
    """At width 64 the layout is torchvision's own: same names, same shapes, and
    the same logits once torchvision's model is given these weights."""
    for depth in ["resnet18", "resnet50"]:
        torch.manual_seed(0)
        mine = ResNet(depth).eval()
        tv = getattr(torchvision.models, depth)().eval()
        a = {k: tuple(v.shape) for k, v in mine.state_dict().items()}
        b = {k: tuple(v.shape) for k, v in tv.state_dict().items()}
        assert list(a) == list(b) and a == b, depth + ": names or shapes differ from torchvision"
        tv.load_state_dict(mine.state_dict(), strict=True)
        x = torch.randn(1, 3, 64, 64)
        with torch.no_grad():
            d = (mine(x) - tv(x)).abs().max().item()
        assert d < 1e-5, "%s differs from torchvision by %g" % (depth, d)
        print("%s: layout and forward pass match torchvision's (max |diff| %.1e)" % (depth, d))


def calibrate(model, batches):
    """Gives every batch norm real running statistics (a cumulative average over
    a few batches in training mode) and non-trivial affine parameters, so that
    running_mean/var, weight and bias all matter in eval mode. The last batch norm
    of each residual branch gets smaller weights, as trained ResNets have, so the
    activations (and the logits) stay of order one through the depth."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    last = set()
    for m in model.modules():
        if isinstance(m, (BasicBlock, Bottleneck)):
            last.add(id(m.bn3 if isinstance(m, Bottleneck) else m.bn2))
    for m in bns:
        m.momentum = None
    model.train()
    with torch.no_grad():
        for x in batches:
            model(x)
        for m in bns:
            m.momentum = 0.1
            if id(m) in last:
                m.weight.uniform_(0.2, 0.5)
            else:
                m.weight.uniform_(0.6, 1.4)
            m.bias.normal_(0, 0.2)
    model.eval()


def resnet_fixtures():
    check_against_torchvision()
    for depth, seed in [("resnet18", 18), ("resnet50", 50)]:
        torch.manual_seed(seed)
        model = ResNet(depth, width=8, num_classes=10)
        calibrate(model, [torch.randn(8, 3, 64, 64) for _ in range(4)])
        x = torch.rand(2, 3, 64, 64) * 2 - 1
        with torch.no_grad():
            logits = model.double()(x.double()).float()
        model.float()
        save(model.state_dict(), out("resnet", depth + "_w8.pth"))
        write_safetensors(out("resnet", depth + "_w8_io.safetensors"),
                          collections.OrderedDict(input=x, logits=logits))
        print("%s w8: %d tensors, logits in [%.3f, %.3f]" % (depth, len(model.state_dict()),
                                                             logits.min(), logits.max()))


# ---------------------------------------------------------------- the official model

GRID, PAD, FWHM = 31, 30, 13
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def gaussian(size, fwhm):
    """A size x size Gaussian, exp(-4 ln2 r^2 / fwhm^2) around the centre pixel
    (size // 2), peak 1, unnormalised: the official filter's weights."""
    r = np.arange(size, dtype=np.float64) - size // 2
    return np.exp(-4 * np.log(2) * (r[None, :] ** 2 + r[:, None] ** 2) / fwhm ** 2)


class OfficialSampler(nn.Module):
    """The state_dict layout of Saliency_Sampler: hi_res (the task network),
    localization (the saliency ResNet-18 with unused layer4 and fc), conv_last
    (1x1 convolution from layer3's channels to one) and filter (the fixed Gaussian,
    a 61 x 61 convolution without bias)."""

    def __init__(self, width, classes):
        super().__init__()
        self.hi_res = ResNet("resnet18", width=width, num_classes=classes)
        self.conv_last = nn.Conv2d(4 * width, 1, 1)
        self.localization = ResNet("resnet18", width=width, num_classes=10, upto="layer3")
        self.filter = nn.Conv2d(1, 1, 2 * PAD + 1, bias=False)
        with torch.no_grad():
            self.filter.weight.copy_(torch.from_numpy(gaussian(2 * PAD + 1, FWHM)).float()[None, None])

    def forward(self, x, saliency_input, task_input):
        """The official forward pass in evaluation (no resolution drop), on x already
        normalised with ImageNet's mean and std. The interpolation settings are those
        of PyTorch 0.4.0, which the official code ran on: nn.Upsample(mode='bilinear')
        meant align_corners=False, F.grid_sample had no option and behaved as
        align_corners=True (zero padding, never reached: the grid is clamped)."""
        n = x.shape[0]
        r = {}
        # Low-resolution copy for the saliency network.
        r["lowres"] = F.adaptive_avg_pool2d(x, (saliency_input, saliency_input))
        # Saliency logits: layer3 features, ReLU, 1x1 convolution.
        r["saliency_logits"] = self.conv_last(F.relu(self.localization(r["lowres"])))
        # Up to the grid, bilinearly with align_corners=False; softmax over all cells.
        up = F.interpolate(r["saliency_logits"], size=(GRID, GRID), mode="bilinear", align_corners=False)
        r["saliency"] = F.softmax(up.reshape(n, -1), dim=1).reshape(n, 1, GRID, GRID)
        # The grid generator: each output cell's source coordinate is the
        # saliency-and-Gaussian weighted mean of the padded cells' positions, where
        # padded cell (i, j) sits at x = (j - PAD) / (GRID - 1), y = (i - PAD) / (GRID - 1)
        # (so the unpadded cells span [0, 1]); then mapped to [-1, 1] and clamped.
        padded = F.pad(r["saliency"], (PAD, PAD, PAD, PAD), mode="replicate")
        side = GRID + 2 * PAD
        pos = (torch.arange(side, dtype=x.dtype) - PAD) / (GRID - 1)
        px = pos[None, :].expand(side, side)
        py = pos[:, None].expand(side, side)
        k = self.filter.weight
        weight = F.conv2d(padded, k)
        gx = F.conv2d(padded * px, k) / weight
        gy = F.conv2d(padded * py, k) / weight
        small = torch.cat([gx, gy], 1) * 2 - 1
        r["grid_small"] = small.clamp(-1, 1)                       # [N, 2, GRID, GRID], x then y
        # Up to the task network's input, bilinearly with align_corners=False (a
        # convex combination, so still within [-1, 1]); then NHWC for grid_sample.
        grid = F.interpolate(r["grid_small"], size=(task_input, task_input), mode="bilinear", align_corners=False)
        r["grid"] = grid.permute(0, 2, 3, 1)                       # [N, T, T, 2]
        r["warped"] = F.grid_sample(x, r["grid"], mode="bilinear", padding_mode="zeros", align_corners=True)
        r["logits"] = self.hi_res(r["warped"])
        r["probs"] = F.softmax(r["logits"], dim=1)
        return r


def images(n, size, gen):
    """Photos stand-ins in [0, 1]: smooth colour gradients with noise and one bright
    blob each, at different places, so the saliency map differs per image."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    out = []
    for i in range(n):
        cx, cy = [(0.25, 0.3), (0.7, 0.65), (0.35, 0.8), (0.8, 0.2)][i]
        blob = torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 0.06 ** 2))
        img = torch.stack([0.3 + 0.3 * xx, 0.4 - 0.2 * yy, 0.5 + 0.1 * xx * yy])
        img = img + 0.1 * torch.rand(3, size, size, generator=gen) + blob * torch.tensor([0.6, 0.1, -0.3])[:, None, None]
        out.append(img.clamp(0, 1))
    return torch.stack(out)


def official_fixture():
    width, classes, source, sal_in, task_in, n = 8, 5, 96, 64, 48, 3
    torch.manual_seed(2018)
    gen = torch.Generator().manual_seed(7)
    model = OfficialSampler(width, classes)
    calibrate(model.localization, [torch.randn(8, 3, sal_in, sal_in) for _ in range(4)])
    calibrate(model.hi_res, [torch.randn(8, 3, task_in, task_in) for _ in range(4)])
    with torch.no_grad():
        model.hi_res.fc.weight.mul_(4)   # class probabilities well apart

    raw = images(n, source, gen)
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    x = (raw - mean) / std

    # Sanity: a uniform saliency map gives the identity grid (align_corners=True).
    with torch.no_grad():
        model.conv_last.weight.zero_()
        r = model.double()(x.double(), sal_in, task_in)
        ident = torch.linspace(-1, 1, GRID, dtype=torch.float64)
        d = max((r["grid_small"][:, 0] - ident[None, None, :]).abs().max().item(),
                (r["grid_small"][:, 1] - ident[None, :, None]).abs().max().item())
        assert d < 1e-9, "uniform saliency does not give the identity grid (%g)" % d
    model.float()

    # Bias towards a strongly peaked map: scale conv_last until the map's peak is
    # far above uniform and the grid moves far from the identity.
    torch.manual_seed(31)
    base = torch.randn(1, 4 * width, 1, 1)
    for scale in [0.5 * 1.25 ** i for i in range(40)]:
        with torch.no_grad():
            model.conv_last.weight.copy_(base * scale)
            model.conv_last.bias.fill_(0.1)
            r = model.double()(x.double(), sal_in, task_in)
        model.float()
        peak = (r["saliency"].amax((1, 2, 3)) * GRID * GRID).min().item()
        ident = torch.linspace(-1, 1, GRID, dtype=torch.float64)
        shift = torch.stack([(r["grid_small"][:, 0] - ident[None, None, :]).abs(),
                             (r["grid_small"][:, 1] - ident[None, :, None]).abs()]).amax((0, 2, 3))
        if peak > 30 and shift.min().item() > 0.25:
            break
    else:
        sys.exit("could not make the saliency map peaked enough")
    with torch.no_grad():
        r = model.double()(x.double(), sal_in, task_in)
    model.float()
    sd = model.state_dict()
    save(sd, out("official", "official_w8.pth"))
    tensors = collections.OrderedDict()
    tensors["image"] = raw
    for k in ["lowres", "saliency_logits", "saliency", "grid_small", "grid", "warped", "logits", "probs"]:
        tensors[k] = r[k].float()
    write_safetensors(out("official", "official_w8_io.safetensors"), tensors,
                      metadata={"width": str(width), "classes": str(classes), "source": str(source),
                                "saliency_input": str(sal_in), "task_input": str(task_in),
                                "grid": str(GRID), "padding": str(PAD), "fwhm": str(FWHM)})
    print("official w8: conv_last scale %.2f, saliency peak >= %.0f x uniform, grid moved up to >= %.2f; "
          "probs in [%.3f, %.3f]; %d tensors" % (scale, peak, shift.min().item(), r["probs"].min().item(),
                                            r["probs"].max().item(), len(sd)))
    print("  saliency peak per image:", [round(v, 1) for v in (r["saliency"].amax((1, 2, 3)) * GRID * GRID).tolist()])


if __name__ == "__main__":
    reader_fixtures()
    resnet_fixtures()
    official_fixture()
    for dirpath, _, files in sorted(os.walk(ROOT)):
        for f in sorted(files):
            p = os.path.join(dirpath, f)
            print("%8d  %s" % (os.path.getsize(p), os.path.relpath(p, ROOT)))
