#!/usr/bin/env python3
"""Issue 2's cross-check, torch side (run by bench/crosscheck.mjs; Debian's /usr/bin/python3 with
python3-torch). Trains lenet5 for one epoch at batch 32 from the initial weights and in the sample
order that our side wrote to DIR, and prints one JSON line: the loss of every step before its update
for the first FIRST steps, and the test accuracy and loss after the epoch.

  python3 bench/torch_crosscheck.py DIR MNIST_DIR keras|torch

keras: Adam as Keras (and our kernels) compute it, epsilon added to sqrt(v) before the bias
correction; torch: torch.optim.Adam (epsilon added after it). Both lr 1e-3, eps 1e-7.
Our weights are in Keras' layout (conv kernels [kh, kw, cin, cout], dense [in, out]) and our flatten
is NHWC, so the model permutes before flattening and the weights are transposed on the way in.
"""
import json
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FIRST = 10
BATCH = 32

def idx(path, header):
    return np.fromfile(path, dtype=np.uint8)[header:]

class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.c2 = nn.Conv2d(6, 16, 5)
        self.f1 = nn.Linear(400, 120)
        self.f2 = nn.Linear(120, 84)
        self.f3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        return self.f3(F.relu(self.f2(F.relu(self.f1(x)))))

class KerasAdam:
    """p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps), as Keras and our kernels."""
    def __init__(self, params, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
        self.params = list(params)
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        self.t += 1
        alpha = self.lr * (1 - self.b2 ** self.t) ** 0.5 / (1 - self.b1 ** self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            m.mul_(self.b1).add_(p.grad, alpha=1 - self.b1)
            v.mul_(self.b2).addcmul_(p.grad, p.grad, value=1 - self.b2)
            p.sub_(alpha * m / (v.sqrt() + self.eps))

def main(work, data, adam):
    torch.set_num_threads(1)
    xtr = torch.tensor(idx(f'{data}/train-images-idx3-ubyte', 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255)
    ytr = torch.tensor(idx(f'{data}/train-labels-idx1-ubyte', 8).astype(np.int64))
    xte = torch.tensor(idx(f'{data}/t10k-images-idx3-ubyte', 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255)
    yte = torch.tensor(idx(f'{data}/t10k-labels-idx1-ubyte', 8).astype(np.int64))
    shapes = json.load(open(f'{work}/shapes.json'))
    w = [torch.tensor(np.fromfile(f'{work}/w{i}.f32', dtype=np.float32).reshape(s)) for i, s in enumerate(shapes)]
    order = torch.tensor(np.fromfile(f'{work}/order.i32', dtype=np.int32).astype(np.int64))
    model = LeNet5()
    with torch.no_grad():
        model.c1.weight.copy_(w[0].permute(3, 2, 0, 1))
        model.c1.bias.copy_(w[1])
        model.c2.weight.copy_(w[2].permute(3, 2, 0, 1))
        model.c2.bias.copy_(w[3])
        for layer, k in ((model.f1, 4), (model.f2, 6), (model.f3, 8)):
            layer.weight.copy_(w[k].t())
            layer.bias.copy_(w[k + 1])
    opt = KerasAdam(model.parameters()) if adam == 'keras' else torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    first = []
    for b in range((len(order) + BATCH - 1) // BATCH):
        ix = order[b * BATCH:(b + 1) * BATCH]
        opt.zero_grad()
        loss = F.cross_entropy(model(xtr[ix]), ytr[ix])
        loss.backward()
        opt.step()
        if b < FIRST:
            first.append(loss.item())
    with torch.no_grad():
        out = model(xte)
        acc = (out.argmax(1) == yte).float().mean().item()
        test_loss = F.cross_entropy(out, yte).item()
    print(json.dumps({'kind': 'crosscheck', 'adam': adam, 'first_losses': first, 'test_acc': acc, 'test_loss': test_loss, 'torch': torch.__version__}))

if __name__ == '__main__':
    main(*sys.argv[1:4])
