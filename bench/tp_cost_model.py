#!/usr/bin/env python3
"""The cost model of docs/DISTRIBUTED.md: per-step time of tensor (TP) and pipeline (PP)
parallel decoding from a model's shape, a host's weight-streaming speed and a link's
latency/bandwidth. Prints bytes and messages per token and the predicted step times.

  tp_cost_model.py                      # the docs' tables (l1b and a 70B shape)
  tp_cost_model.py --fit B1:MS1:KIB1 B16:MS16:KIB16   # alpha, beta from weft bench lines

Terms (all per decode step of T tokens, one token per sequence):
  weights  W bytes, streamed once per step from memory at R bytes/s per host: W / (p R)
  TP       2 L all-reduces of T d 4 bytes; weft's all-reduce is an all-gather then a
           rank-order sum (deterministic), so each rank receives (p-1) T d 4 bytes in
           ceil(log2 p) rounds (Open MPI's recursive doubling for these sizes):
           t_tp = 2 L (alpha ceil(log2 p) + beta (p-1) T d 4) + t_bcast
  PP       m stages, each streaming W/m: a step's T tokens cross m-1 hops of T d 4
           bytes (one message each). Decode is memory-bound, so micro-batching one step
           would re-read each stage's weights per micro-batch; what overlaps the stages
           is m independent groups of sequences in flight (a group's next step needs
           its last token): a stage takes t_s = W/(m R) + alpha + beta T d 4, a group
           finishes a step every t_s (throughput T / t_s), and each of its tokens
           still takes m t_s (latency ~ W / R: PP adds capacity and throughput, not speed).
"""
import argparse
import math

MODELS = {
    # name: (n_embd, n_layer, weight bytes as Q4_0)
    "l1b": (2048, 16, 622e6),
    "70b": (8192, 80, 39.7e9),
}


def tp_step(model, p, T, R, alpha, beta):
    d, L, W = MODELS[model]
    weights = W / (p * R)
    rounds = math.ceil(math.log2(p)) if p > 1 else 0
    comm = 0.0 if p == 1 else 2 * L * (alpha * rounds + beta * (p - 1) * T * d * 4) + 2 * alpha
    return weights, comm


def pp_stage(model, m, T, R, alpha, beta):
    d, L, W = MODELS[model]
    return W / (m * R) + (0.0 if m == 1 else alpha + beta * T * d * 4)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--R", type=float, default=10e9, help="weight bytes streamed per second per host (default 10e9)")
    ap.add_argument("--T", type=int, default=16, help="tokens per step (decode batch)")
    ap.add_argument("--fit", nargs=2, metavar="T:MS:KIB",
                    help="two weft bench --tp 2 results: tokens per step, comm ms per step, KiB per step")
    a = ap.parse_args()
    if a.fit:
        (t1, ms1, k1), (t2, ms2, k2) = [tuple(float(x) for x in f.split(":")) for f in a.fit]
        # comm = n_msgs alpha + bytes beta, with the same message count at both sizes.
        beta = (ms2 - ms1) / 1e3 / ((k2 - k1) * 1024)
        print("beta %.3e s/byte (%.2f GB/s); alpha from the first: see docs" % (beta, 1 / beta / 1e9))
        return
    links = {"10 Gbit/s": (30e-6, 8 / 10e9), "100 Gbit/s": (10e-6, 8 / 100e9)}
    for model in MODELS:
        d, L, W = MODELS[model]
        print("\n%s: d %d, %d layers, %.2f GB of weights; T = %d tokens per step" % (model, d, L, W / 1e9, a.T))
        print("  TP per token: %d all-reduces of %d bytes; PP per token: %d bytes per stage hop"
              % (2 * L, d * 4, d * 4))
        print("  | link | hosts | TP weights ms | TP comm ms | TP step ms | TP tok/s | PP stage ms | PP tok/s | PP token latency ms |")
        print("  |---|---|---|---|---|---|---|---|---|")
        for name, (alpha, beta) in links.items():
            for p in (1, 2, 4, 8):
                w, c = tp_step(model, p, a.T, a.R, alpha, beta)
                ts = pp_stage(model, p, a.T, a.R, alpha, beta)
                print("  | %s | %d | %.1f | %.1f | %.1f | %.0f | %.1f | %.0f | %.0f |"
                      % (name, p, w * 1e3, c * 1e3, (w + c) * 1e3, a.T / (w + c), ts * 1e3, a.T / ts, p * ts * 1e3))


if __name__ == "__main__":
    main()
