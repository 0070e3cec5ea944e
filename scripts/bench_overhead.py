"""Estimator.train vs a hand-written torch loop: same MLP, same in-memory batches, one run.

Target (issue 2): the Estimator reaches >= 0.95x the hand-written loop's throughput at batch 512 on
CPU. Both loops see identical batches and do identical math (the final weights are compared); the
difference is the Estimator's per-step machinery (input_fn iteration, hooks, NaN guard, spec
validation) plus the checkpoints written at the start and the end of ``train`` and the summaries and
log lines at their default cadence (every 100 steps).

Usage: python scripts/bench_overhead.py [--steps 1000] [--batch 512] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time

import torch

import torchestimator as te


class MLP(torch.nn.Module):
    def __init__(self, params: dict) -> None:
        super().__init__()
        d = params["in_dim"]
        self.net = torch.nn.Sequential(
            torch.nn.Linear(d, 256),
            torch.nn.ReLU(),
            torch.nn.Linear(256, 256),
            torch.nn.ReLU(),
            torch.nn.Linear(256, 1),
        )
        self.optimizer = torch.optim.Adam(self.parameters(), lr=1e-3)

    def forward(self, features, labels=None, mode=te.ModeKeys.TRAIN):
        logits = self.net(features["x"]).squeeze(-1)  # (B,)
        if mode == te.ModeKeys.PREDICT:
            return te.EstimatorSpec(mode, predictions={"logits": logits})
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        return te.EstimatorSpec(mode, loss=loss, train_op=self.optimizer)


def make_batches(n: int, batch: int, dim: int) -> list[tuple[dict[str, torch.Tensor], torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        x = torch.randn(batch, dim, generator=g)
        out.append(({"x": x}, (x[:, 0] > 0).float()))
    return out


def hand_loop(batches, params) -> tuple[float, torch.nn.Module]:
    torch.manual_seed(0)
    model = MLP(params)
    t0 = time.perf_counter()
    for features, labels in batches:
        logits = model.net(features["x"]).squeeze(-1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        model.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        model.optimizer.step()
    return time.perf_counter() - t0, model


def estimator_loop(batches, params) -> tuple[float, torch.nn.Module]:
    torch.manual_seed(0)
    est = te.Estimator(
        MLP,
        model_dir=tempfile.mkdtemp(prefix="bench-overhead-"),
        params=params,
        config=te.RunConfig(progress_bar=False),
    )
    t0 = time.perf_counter()
    est.train(lambda: batches)
    return time.perf_counter() - t0, est.model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:  # 1 gives stable numbers on a shared machine (no intra-op spin-waiting)
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    params = {"in_dim": args.dim}
    batches = make_batches(args.steps, args.batch, args.dim)
    hand_loop(batches[:20], params)  # warm-up (allocator, kernels)
    estimator_loop(batches[:20], params)
    hand_t, est_t = [], []
    for _ in range(args.repeats):  # interleaved, best of N for each
        t, ref = hand_loop(batches, params)
        hand_t.append(t)
        t, model = estimator_loop(batches, params)
        est_t.append(t)
    same = all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), model.state_dict().values()))
    n = args.steps * args.batch
    hand_eps, est_eps = n / min(hand_t), n / min(est_t)
    print(
        f"MLP {args.dim}->256->256->1, Adam, batch {args.batch}, {args.steps} steps, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; best of {args.repeats}"
    )
    print(f"hand-written loop : {hand_eps:12,.0f} examples/s")
    print(f"Estimator.train   : {est_eps:12,.0f} examples/s")
    print(f"ratio (Estimator / hand-written) = {est_eps / hand_eps:.3f}   (target >= 0.95)")
    print(f"identical final weights: {same}")


if __name__ == "__main__":
    main()
