// dist::Communicator under `mpirun -np N` (tests/CMakeLists.txt registers it for N = 2
// and 4): every rank runs every test; the collectives must agree across ranks bit for bit.
#include "dist/communicator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace weft::dist {
namespace {

Communicator& World() {
  auto c = Communicator::World();
  if (!c.ok()) {
    ADD_FAILURE() << c.status().ToString();
    std::abort();
  }
  return **c;
}

// Rank r's part: values whose magnitudes differ by orders between ranks, so that a
// different summation order would round differently.
std::vector<float> Part(int r, int64_t n) {
  std::vector<float> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    p[static_cast<size_t>(i)] = std::ldexp(std::sin(0.37f * static_cast<float>(i) + static_cast<float>(r)), 8 * (r % 3)) +
                                1e-3f * static_cast<float>(r + 1);
  }
  return p;
}

uint64_t Bits(const std::vector<float>& v) {
  uint64_t h = 1469598103934665603ull;
  for (float f : v) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    h = (h ^ u) * 1099511628211ull;
  }
  return h;
}

TEST(Communicator, RankAndSizeMatchTheLauncher) {
  Communicator& c = World();
  ASSERT_TRUE(Communicator::LaunchedByMpirun());
  EXPECT_GE(c.size(), 2);
  EXPECT_GE(c.rank(), 0);
  EXPECT_LT(c.rank(), c.size());
}

TEST(Communicator, AllReduceSumIsTheRankOrderSumOnEveryRank) {
  Communicator& c = World();
  for (int64_t n : {1, 7, 2048, 16 * 4096}) {
    std::vector<float> data = Part(c.rank(), n);
    c.AllReduceSum(data.data(), n);
    // What rank order gives, computed here from every rank's (known) part.
    std::vector<float> want = Part(0, n);
    for (int r = 1; r < c.size(); ++r) {
      const std::vector<float> p = Part(r, n);
      for (size_t i = 0; i < want.size(); ++i) want[i] += p[i];
    }
    ASSERT_EQ(0, std::memcmp(data.data(), want.data(), want.size() * sizeof(float))) << "n=" << n;
    // And every rank holds the same bits.
    const uint64_t mine = Bits(data);
    std::vector<uint64_t> all(static_cast<size_t>(c.size()));
    c.AllGather(&mine, sizeof(mine), all.data());
    for (uint64_t h : all) EXPECT_EQ(h, mine);
  }
}

TEST(Communicator, AllReduceSumIsTheSameOnEveryRun) {
  Communicator& c = World();
  const int64_t n = 4096;
  std::vector<float> first = Part(c.rank(), n);
  c.AllReduceSum(first.data(), n);
  for (int k = 0; k < 50; ++k) {
    std::vector<float> again = Part(c.rank(), n);
    c.AllReduceSum(again.data(), n);
    ASSERT_EQ(Bits(again), Bits(first)) << "run " << k;
  }
}

TEST(Communicator, BroadcastFromEveryRoot) {
  Communicator& c = World();
  for (int root = 0; root < c.size(); ++root) {
    std::vector<int32_t> v(1000, -1);
    if (c.rank() == root) {
      for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int32_t>(i * 31 + static_cast<size_t>(root));
    }
    c.Broadcast(v.data(), v.size() * sizeof(int32_t), root);
    for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], static_cast<int32_t>(i * 31 + static_cast<size_t>(root)));
    std::vector<int32_t> w(10, c.rank() == root ? 5 : 0);
    c.BroadcastPolling(w.data(), w.size() * sizeof(int32_t), root);
    for (int32_t x : w) ASSERT_EQ(x, 5);
  }
}

TEST(Communicator, AllGatherPlacesRankRAtR) {
  Communicator& c = World();
  const int64_t mine[2] = {c.rank(), 100 + c.rank()};
  std::vector<int64_t> all(2 * static_cast<size_t>(c.size()));
  c.AllGather(mine, sizeof(mine), all.data());
  for (int r = 0; r < c.size(); ++r) {
    EXPECT_EQ(all[2 * static_cast<size_t>(r)], r);
    EXPECT_EQ(all[2 * static_cast<size_t>(r) + 1], 100 + r);
  }
  EXPECT_GT(c.comm_calls(), 0);
  EXPECT_GT(c.comm_bytes(), 0);
}


// A ring of point-to-point messages (what pipeline stages send): rank r sends to r + 1
// asynchronously, several tagged messages in flight, and receives from r - 1 in tag order.
TEST(Communicator, SendAsyncRecvRing) {
  Communicator& c = World();
  const int next = (c.rank() + 1) % c.size(), prev = (c.rank() + c.size() - 1) % c.size();
  std::vector<std::vector<float>> out(3);
  for (int tag = 0; tag < 3; ++tag) {
    out[static_cast<size_t>(tag)] = Part(c.rank() * 10 + tag, 40000);  // past the eager limit
    c.SendAsync(out[static_cast<size_t>(tag)].data(), out[static_cast<size_t>(tag)].size() * sizeof(float), next, tag);
  }
  for (int tag = 0; tag < 3; ++tag) {
    std::vector<float> in(40000);
    c.Recv(in.data(), in.size() * sizeof(float), prev, tag);
    EXPECT_EQ(Bits(in), Bits(Part(prev * 10 + tag, 40000))) << "tag " << tag;
  }
  c.WaitSends();
  const int64_t bytes = c.comm_bytes();
  c.Send(out[0].data(), 4, next, 7);
  float x = 0;
  c.Recv(&x, 4, prev, 7);
  EXPECT_EQ(c.comm_bytes(), bytes + 8);
}

// Split: groups of two consecutive ranks (a pipeline stage's tensor-parallel ranks); the
// all-reduce sums within the group only, and the group's time counts in the world's.
TEST(Communicator, SplitReducesWithinTheGroup) {
  Communicator& c = World();
  if (c.size() % 2 != 0) GTEST_SKIP() << "needs an even number of ranks";
  Communicator* g = c.Split(c.rank() / 2, c.rank() % 2);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->size(), 2);
  EXPECT_EQ(g->rank(), c.rank() % 2);
  std::vector<float> v(100, static_cast<float>(c.rank() + 1));
  const int64_t calls = c.comm_calls();
  g->AllReduceSum(v.data(), static_cast<int64_t>(v.size()));
  const float want = static_cast<float>((c.rank() / 2) * 2 + 1 + (c.rank() / 2) * 2 + 2);
  for (float x : v) ASSERT_EQ(x, want);
  EXPECT_EQ(c.comm_calls(), calls + 1);
}

}  // namespace
}  // namespace weft::dist

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
