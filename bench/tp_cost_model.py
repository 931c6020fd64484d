#!/usr/bin/env python3
"""The cost model of docs/DISTRIBUTED.md: per-step time of tensor (TP) and pipeline (PP)
parallel decoding from a model's shape, a host's weight-streaming speed and a link's
latency/bandwidth. Prints bytes and messages per token and the predicted step times.

  tp_cost_model.py                      # the docs' tables (l1b and a 70B shape)
  tp_cost_model.py --R 20e9 --T 64       # another host speed / batch

Terms (all per decode step of T tokens, one token per sequence):
  weights  W bytes, streamed once per step from memory at R bytes/s per host: W / (p R)
  TP       2 L + 1 all-reduces of T d 4 bytes (two per layer, one for the
           vocabulary-parallel embedding); weft's all-reduce is an all-gather then a
           rank-order sum (deterministic), so each rank receives (p-1) T d 4 bytes in
           ceil(log2 p) rounds (Open MPI's recursive doubling for these sizes); then the
           vocabulary-parallel head's logits: rank 0 receives the other ranks' columns,
           (p-1)/p of T V 4 bytes in p-1 messages:
           t_tp = (2 L + 1) (alpha ceil(log2 p) + beta (p-1) T d 4)
                  + (p-1) alpha + beta (p-1)/p T V 4 + t_bcast
  PP       m stages, each streaming W/m: a step's T tokens cross m-1 hops of T d 4
           bytes (one message each). Decode is memory-bound, so micro-batching one step
           would re-read each stage's weights per micro-batch; what overlaps the stages
           is m independent groups of sequences in flight (a group's next step needs
           its last token): a stage takes t_s = W/(m R) + alpha + beta T d 4, a group
           finishes a step every t_s (throughput T / t_s), and each of its tokens
           still takes m t_s (latency ~ W / R: PP adds capacity and throughput, not speed).

  PP here  (what weft builds: one step at a time, cut into K micro-batches of T/K tokens
           that flow through the m stages; --pp-micro-batches): with one thread per stage
           and t1(n) = a + b n the one-thread time of a step of n tokens through the whole
           model (a: streaming the weights, b: per-token compute),
           t_pp = (K + m - 1) t1(T/K) / m + (m-1)(alpha + beta (T/K) d 4)
                  + alpha + beta (R/K) V 4          (the last micro-batch's logits to rank 0)
           against one process with m threads, t1(T) / m (perfect threading). Memory-bound
           (b ~ 0): micro-batching re-reads the weights K times and loses; compute-bound
           (a ~ 0): t_pp -> t1(T)/m (1 + (m-1)/K). `--fit A_MS B_MS` prints it for the
           machine's fitted a, b (docs/DISTRIBUTED.md, BENCHMARKS.md).
"""
import argparse
import math

MODELS = {
    # name: (n_embd, n_layer, weight bytes as Q4_0, n_vocab)
    "l1b": (2048, 16, 622e6, 32000),
    "70b": (8192, 80, 39.7e9, 128256),
}


def tp_step(model, p, T, R, alpha, beta):
    d, L, W, V = MODELS[model]
    weights = W / (p * R)
    rounds = math.ceil(math.log2(p)) if p > 1 else 0
    logits = (p - 1) * alpha + beta * (p - 1) / p * T * V * 4
    comm = 0.0 if p == 1 else (2 * L + 1) * (alpha * rounds + beta * (p - 1) * T * d * 4) + logits + 2 * alpha
    return weights, comm


def pp_stage(model, m, T, R, alpha, beta):
    d, L, W, V = MODELS[model]
    return W / (m * R) + (0.0 if m == 1 else alpha + beta * T * d * 4)


def pp_step_here(a, b, T, m, K, alpha, beta, d, V, R):
    """Seconds per step of the micro-batched pipeline (see the docstring)."""
    n = T / K
    return (K + m - 1) * (a + b * n) / m + (m - 1) * (alpha + beta * n * d * 4) + alpha + beta * (R / K) * V * 4


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--R", type=float, default=8e9,
                    help="weight bytes streamed per second per host (default 8e9: l1b Q4_0 batch-16 decode on this "
                         "2-core machine in a quiet spell, BENCHMARKS.md)")
    ap.add_argument("--T", type=int, default=16, help="tokens per step (decode batch)")
    ap.add_argument("--fit", nargs=2, type=float, metavar=("A_MS", "B_MS"),
                    help="print the micro-batched pipeline's prediction on this machine (l1b, 2 stages) for one-thread "
                         "step time a + b n (ms, fitted from `weft bench -t 1` at two batch sizes)")
    ap.add_argument("--alpha", type=float, default=6.5e-6, help="--fit: message latency (s; allreduce_bench's fit)")
    ap.add_argument("--beta", type=float, default=0.17e-9, help="--fit: seconds per byte (allreduce_bench's fit)")
    ap.add_argument("--here", type=float, metavar="STEP_MS",
                    help="print the prediction for --tp 2 on this one host (1 thread per rank) against one process with "
                         "2 threads whose decode step of --T tokens takes STEP_MS: the two share the cores and the "
                         "memory bus, so the weight time stays STEP_MS and TP adds its communication (--alpha, --beta)")
    a = ap.parse_args()
    if a.here:
        _, comm = tp_step("l1b", 2, a.T, a.R, a.alpha, a.beta)
        step = a.here / 1e3
        print("one process, 2 threads: %.1f ms/step; --tp 2: %.1f ms/step + %.2f ms communication = %.3fx of one process"
              % (a.here, a.here, comm * 1e3, step / (step + comm)))
        return
    if a.fit:
        A, B = a.fit[0] / 1e3, a.fit[1] / 1e3
        d, V = 2048, 32000  # synthetic l1b's width and vocabulary
        one = (A + B * a.T) / 2
        print("one process, 2 threads: %.1f ms/step" % (one * 1e3))
        for K in (1, 2, 4, 8, 16):
            t = pp_step_here(A, B, a.T, 2, K, a.alpha, a.beta, d, V, a.T)
            print("--pp 2 --pp-micro-batches %2d: %.1f ms/step (%.2fx of one process)" % (K, t * 1e3, one / t))
        return
    # alpha: one MPI message's latency over TCP on 10 GbE (~30 us) and over a 100 Gbit/s
    # RDMA-capable fabric (~10 us with Open MPI's TCP path; ~2 us with UCX/verbs).
    links = {"10 Gbit/s": (30e-6, 8 / 10e9), "100 Gbit/s": (10e-6, 8 / 100e9)}
    for model in MODELS:
        d, L, W, V = MODELS[model]
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
