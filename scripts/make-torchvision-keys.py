#!/usr/bin/python3
"""Writes internal/graph/testdata/<arch>.keys: the state_dict keys and shapes of
torchvision's ResNets (Debian's python3-torchvision 0.14) built for 5 classes, one
"key d0,d1,..." a line, in state_dict order. internal/graph's TestTorchvisionNames
checks that the Go networks have exactly these tensors.

    /usr/bin/python3 scripts/make-torchvision-keys.py
"""

import os

import torchvision

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "internal", "graph", "testdata")

for arch in ["resnet18", "resnet34", "resnet50", "resnet101"]:
    model = getattr(torchvision.models, arch)(num_classes=5)
    with open(os.path.join(OUT, arch + ".keys"), "w") as f:
        for key, value in model.state_dict().items():
            f.write(key + " " + ",".join(str(d) for d in value.shape) + "\n")
