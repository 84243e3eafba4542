"""The seed tutorial's model in PyTorch, for tests/bench/train_speed.

784-128-10 MLP, ReLU, softmax cross-entropy, Adam (lr 1e-3, Keras' epsilon
1e-7), batch 32, 5 epochs over all 60000 shuffled training images, then the
test set. Prints "<wall seconds> <test accuracy %>" (training + evaluation).
"""
import sys
import time

import numpy as np
import torch


def read_idx(path, offset):
    with open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def main():
    data, threads = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    x_train = torch.from_numpy(read_idx(f"{data}/train-images-idx3-ubyte", 16).reshape(-1, 784).astype(np.float32) / 255.0)
    y_train = torch.from_numpy(read_idx(f"{data}/train-labels-idx1-ubyte", 8).astype(np.int64))
    x_test = torch.from_numpy(read_idx(f"{data}/t10k-images-idx3-ubyte", 16).reshape(-1, 784).astype(np.float32) / 255.0)
    y_test = torch.from_numpy(read_idx(f"{data}/t10k-labels-idx1-ubyte", 8).astype(np.int64))

    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(5):
        order = torch.randperm(x_train.shape[0])
        for i in range(0, x_train.shape[0], 32):
            idx = order[i:i + 32]
            opt.zero_grad()
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = (model(x_test).argmax(1) == y_test).float().mean().item() * 100
    print(f"{time.perf_counter() - start:.2f} {acc:.2f}")


if __name__ == "__main__":
    main()
