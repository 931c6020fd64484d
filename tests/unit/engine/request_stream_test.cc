// RequestStream::FailUnfinished: what a client sees when the engine can no longer finish
// its request (a tensor-parallel rank died).
#include "engine/request_stream.h"

#include <gtest/gtest.h>

#include <thread>

namespace weft {
namespace {

RequestOutput Piece(int32_t sample, RequestFinish finish) {
  RequestOutput o;
  o.sample_index = sample;
  o.token_ids = {7};
  o.finish = finish;
  return o;
}

TEST(RequestStream, FailUnfinishedEndsOnlyTheSamplesStillRunning) {
  RequestStream s(1, 3, 5);
  s.Push(Piece(0, RequestFinish::kNone));
  s.Push(Piece(1, RequestFinish::kStop));  // sample 1 is done
  s.FailUnfinished("rank 1 died");
  s.Push(Piece(2, RequestFinish::kLength));  // after the failure: dropped
  std::vector<RequestOutput> got;
  while (auto o = s.Next(std::chrono::milliseconds(0))) got.push_back(*o);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[1].finish, RequestFinish::kStop);
  EXPECT_EQ(got[2].sample_index, 0);
  EXPECT_EQ(got[2].finish, RequestFinish::kError);
  EXPECT_EQ(got[2].error, "rank 1 died");
  EXPECT_EQ(got[3].sample_index, 2);
  EXPECT_EQ(got[3].finish, RequestFinish::kError);
  EXPECT_TRUE(s.finished());
}

TEST(RequestStream, FailUnfinishedWakesAWaitingReader) {
  RequestStream s(2, 1, 1);
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    s.FailUnfinished("gone");
  });
  auto o = s.Next(std::chrono::seconds(10));
  t.join();
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->finish, RequestFinish::kError);
  EXPECT_FALSE(s.Next(std::chrono::milliseconds(0)).has_value());
  EXPECT_TRUE(s.finished());
  s.FailUnfinished("again");  // idempotent
  EXPECT_FALSE(s.Next(std::chrono::milliseconds(0)).has_value());
}

}  // namespace
}  // namespace weft
