#!/usr/bin/python3
"""Times PyTorch's training step of torchvision's ResNet-18 as zoomtrain's task
network runs it in scripts/bench-resnet18-vs-pytorch.sh: a batch of 16 task inputs
of 3 x 112 x 112 (the 224 px sources sampled down to 112), 10 classes, cross-entropy,
SGD with momentum 0.9 and weight decay 1e-4, float32, batch norm in training mode.

    /usr/bin/python3 scripts/resnet18_step.py THREADS BATCH SIDE STEPS WARMUP

Prints one JSON line: the median, minimum and maximum milliseconds per step.
"""

import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import torchvision


def main():
    threads, batch, side, steps, warmup = (int(a) for a in sys.argv[1:6])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.rand(batch, 3, side, side)
    y = torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({"ms_per_step": med * 1e3, "ms_min": min(times) * 1e3, "ms_max": max(times) * 1e3,
                      "images_per_s": batch / med, "threads": threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
