// Draft token trees' representation (sched/draft_tree.h): the first-child chain's length,
// depths, normalisation (duplicate siblings and orphans dropped with their subtrees, the
// first-child chain moved first, parents still before children) and the cut to a chain.
#include "sched/draft_tree.h"

#include <gtest/gtest.h>

namespace weft {
namespace {

TEST(DraftTree, ChainLengthAndDepths) {
  EXPECT_EQ(FirstChildChainLength({}, 5), 5);  // an empty parent list is a chain
  const std::vector<int32_t> p = {-1, 0, 1, 0, 3, -1};
  EXPECT_EQ(FirstChildChainLength(p, 6), 3);
  EXPECT_EQ(FirstChildChainLength(p, 2), 2);
  std::vector<int32_t> d;
  DraftTreeDepths(p, 6, d);
  EXPECT_EQ(d, (std::vector<int32_t>{1, 2, 3, 2, 3, 1}));
  DraftTreeDepths({}, 3, d);
  EXPECT_EQ(d, (std::vector<int32_t>{1, 2, 3}));
}

TEST(DraftTree, NormalisePutsTheFirstChildChainFirst) {
  // Node 0 (a) has children 1 (b) and 2 (c); 2 has child 3 (d); 1 has child 4 (e).
  // The first-child chain is 0, 1, 4: it must become nodes 0..2.
  std::vector<int32_t> t = {10, 11, 12, 13, 14};
  std::vector<int32_t> p = {-1, 0, 0, 2, 1};
  NormalizeDraftTree(t, p);
  EXPECT_EQ(t, (std::vector<int32_t>{10, 11, 14, 12, 13}));
  EXPECT_EQ(p, (std::vector<int32_t>{-1, 0, 1, 0, 3}));
  EXPECT_EQ(FirstChildChainLength(p, 5), 3);
  for (size_t i = 0; i < p.size(); ++i) EXPECT_LT(p[i], static_cast<int32_t>(i));
}

TEST(DraftTree, NormaliseDropsDuplicateSiblingsAndOrphans) {
  // Node 2 repeats node 1's token under the same parent: dropped with its child 3.
  // Node 5 names a parent after itself: dropped. Node 4 (another root) stays.
  std::vector<int32_t> t = {10, 11, 11, 13, 20, 30};
  std::vector<int32_t> p = {-1, 0, 0, 2, -1, 7};
  NormalizeDraftTree(t, p);
  EXPECT_EQ(t, (std::vector<int32_t>{10, 11, 20}));
  EXPECT_EQ(p, (std::vector<int32_t>{-1, 0, -1}));
  // The same token under different parents is kept.
  std::vector<int32_t> t2 = {10, 11, 11};
  std::vector<int32_t> p2 = {-1, 0, -1};
  NormalizeDraftTree(t2, p2);
  EXPECT_EQ(t2, (std::vector<int32_t>{10, 11, 11}));
  // A chain (empty parents) is left alone.
  std::vector<int32_t> t3 = {1, 1, 1}, p3;
  NormalizeDraftTree(t3, p3);
  EXPECT_EQ(t3.size(), 3u);
  EXPECT_TRUE(p3.empty());
}

TEST(DraftTree, CutToChain) {
  std::vector<int32_t> t = {10, 11, 12, 13};
  std::vector<int32_t> p = {-1, 0, 0, 1};  // chain 0, 1, 3 after normalising; 0, 1 as it is
  CutDraftTreeToChain(t, p);
  EXPECT_EQ(t, (std::vector<int32_t>{10, 11}));
  EXPECT_TRUE(p.empty());
}

}  // namespace
}  // namespace weft
