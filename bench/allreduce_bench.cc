// The deterministic all-reduce (dist::Communicator::AllReduceSum) alone, at the sizes a
// tensor-parallel step moves (n_embd floats per token, 1..512 tokens): microseconds per
// call, median of 5 repetitions, for docs/DISTRIBUTED.md's latency and bandwidth terms.
//   mpirun -np 2 build/release/bin/allreduce_bench [n_embd]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "dist/communicator.h"

int main(int argc, char** argv) {
  auto world = weft::dist::Communicator::World();
  if (!world.ok()) {
    std::fprintf(stderr, "%s\n", world.status().ToString().c_str());
    return 1;
  }
  weft::dist::Communicator& c = **world;
  const int d = argc > 1 ? std::atoi(argv[1]) : 2048;
  if (c.rank() == 0) std::printf("ranks %d, n_embd %d\n| tokens | bytes | us per all-reduce (median of 5) | min |\n|---|---|---|---|\n", c.size(), d);
  for (int tokens : {1, 16, 64, 512}) {
    const int n = tokens * d;
    std::vector<float> v(static_cast<size_t>(n), 1.0f);
    const int reps = std::max(5, 2000000 / std::max(n, 1) / 4);
    std::vector<double> us;
    for (int r = 0; r < 5; ++r) {
      c.AllReduceSum(v.data(), n);  // warm
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < reps; ++i) c.AllReduceSum(v.data(), n);
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / reps);
    }
    std::sort(us.begin(), us.end());
    if (c.rank() == 0) std::printf("| %d | %d | %.1f | %.1f |\n", tokens, n * 4, us[2], us[0]);
  }
  return 0;
}
