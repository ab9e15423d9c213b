#!/usr/bin/python3
"""Times PyTorch's training step of torchvision's ResNet-18 as zoomtrain's task
network runs it in scripts/bench-resnet18-vs-pytorch.sh: a batch of 16 task inputs
of 3 x 112 x 112 (the 224 px sources sampled down to 112), 10 classes, cross-entropy,
SGD with momentum 0.9 and weight decay 1e-4, float32, batch norm in training mode.

    /usr/bin/python3 scripts/resnet18_step.py THREADS BATCH SIDE STEPS WARMUP

Prints one JSON line: the median, minimum and maximum milliseconds per step, and the
CPU other processes used meanwhile (% of one core, from /proc/stat; above ~10 the
timing is contaminated).
"""

import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import torchvision


def busy_seconds():
    """CPU seconds all processes have used, from /proc/stat (user, nice, system,
    irq, softirq, steal), and this process's own."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    busy = sum(fields[i] for i in (0, 1, 2, 5, 6, 7) if i < len(fields)) / ticks
    return busy, time.process_time()


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
    b0, c0, w0 = *busy_seconds(), time.perf_counter()
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    b1, c1, w1 = *busy_seconds(), time.perf_counter()
    med = statistics.median(times)
    print(json.dumps({"ms_per_step": med * 1e3, "ms_min": min(times) * 1e3, "ms_max": max(times) * 1e3,
                      "images_per_s": batch / med, "threads": threads, "torch": torch.__version__,
                      "foreign_cpu_pct": max(0.0, (b1 - b0) - (c1 - c0)) / (w1 - w0) * 100.0}))


if __name__ == "__main__":
    main()
