#include "dist/communicator.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#ifdef WEFT_HAVE_MPI
#include <mpi.h>
#endif

namespace weft::dist {
namespace {

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool Communicator::Available() {
#ifdef WEFT_HAVE_MPI
  return true;
#else
  return false;
#endif
}

bool Communicator::LaunchedByMpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr ||
         std::getenv("PMI_SIZE") != nullptr;
}

void Communicator::Account(int64_t t0, size_t bytes) {
  counters_->comm_ns_.fetch_add(Now() - t0, std::memory_order_relaxed);
  counters_->comm_calls_.fetch_add(1, std::memory_order_relaxed);
  counters_->comm_bytes_.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
}

#ifdef WEFT_HAVE_MPI

struct Communicator::Mpi {
  MPI_Comm comm = MPI_COMM_WORLD;
  std::vector<MPI_Request> pending;  // SendAsync's, until WaitSends
};

Communicator::Communicator() : mpi_(new Mpi()) {}
Communicator::~Communicator() { delete mpi_; }

Communicator* Communicator::Split(int color, int key) {
  auto* c = new Communicator();
  MPI_Comm_split(mpi_->comm, color, key, &c->mpi_->comm);
  MPI_Comm_rank(c->mpi_->comm, &c->rank_);
  MPI_Comm_size(c->mpi_->comm, &c->size_);
  c->host_ = host_;
  c->counters_ = counters_;
  return c;  // lives until exit, as the world
}

void Communicator::Send(const void* data, size_t bytes, int dest, int tag) {
  const int64_t t0 = Now();
  MPI_Send(data, static_cast<int>(bytes), MPI_BYTE, dest, tag, mpi_->comm);
  Account(t0, bytes);
}

void Communicator::Recv(void* data, size_t bytes, int source, int tag) {
  const int64_t t0 = Now();
  // A pipeline stage waits here for the previous one's whole compute: spin 50 us (a
  // message in flight), then poll with short sleeps, so that a waiting rank does not
  // take a core from the ranks that compute (on a host with fewer free cores than
  // ranks, a spinning MPI_Recv halves the computing rank's share).
  MPI_Request req;
  MPI_Irecv(data, static_cast<int>(bytes), MPI_BYTE, source, tag, mpi_->comm, &req);
  int done = 0;
  while (true) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done) break;
    if (Now() - t0 > 50'000) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  Account(t0, bytes);
}

void Communicator::SendAsync(const void* data, size_t bytes, int dest, int tag) {
  const int64_t t0 = Now();
  mpi_->pending.emplace_back();
  MPI_Isend(data, static_cast<int>(bytes), MPI_BYTE, dest, tag, mpi_->comm, &mpi_->pending.back());
  Account(t0, bytes);
}

void Communicator::WaitSends() {
  if (mpi_->pending.empty()) return;
  const int64_t t0 = Now();
  int done = 0;  // polled as Recv is
  while (true) {
    MPI_Testall(static_cast<int>(mpi_->pending.size()), mpi_->pending.data(), &done, MPI_STATUSES_IGNORE);
    if (done) break;
    if (Now() - t0 > 50'000) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  mpi_->pending.clear();
  Account(t0, 0);
}

StatusOr<Communicator*> Communicator::World() {
  static Communicator* world = [] {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    auto* c = new Communicator();
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size_);
    char name[MPI_MAX_PROCESSOR_NAME] = {};
    int len = 0;
    MPI_Get_processor_name(name, &len);
    c->host_.assign(name, static_cast<size_t>(len));
    std::atexit([] {
      int finalized = 0;
      MPI_Finalized(&finalized);
      if (!finalized) MPI_Finalize();
    });
    return c;
  }();
  return world;
}

void Communicator::Broadcast(void* data, size_t bytes, int root) {
  const int64_t t0 = Now();
  MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, root, mpi_->comm);
  Account(t0, bytes);
}

void Communicator::BroadcastPolling(void* data, size_t bytes, int root) {
  MPI_Request req;
  MPI_Ibcast(data, static_cast<int>(bytes), MPI_BYTE, root, mpi_->comm, &req);
  if (rank_ == root) {
    const int64_t t0 = Now();
    MPI_Wait(&req, MPI_STATUS_IGNORE);
    Account(t0, bytes);
    return;
  }
  // A follower waits here between steps, possibly for hours: spin for the first
  // millisecond (a busy engine's next step), then sleep in growing steps up to 1 ms.
  const int64_t start = Now();
  int done = 0;
  std::chrono::microseconds nap{20};
  while (true) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done) break;
    if (Now() - start > 1'000'000) {
      std::this_thread::sleep_for(nap);
      nap = std::min(nap * 2, std::chrono::microseconds{1000});
    }
  }
  // Waiting for rank 0 to have work is not communication time; the transfer is not
  // separable from the wait here, so a follower's broadcast counts its bytes only.
  counters_->comm_calls_.fetch_add(1, std::memory_order_relaxed);
  counters_->comm_bytes_.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
}

void Communicator::AllGather(const void* send, size_t bytes, void* recv) {
  const int64_t t0 = Now();
  MPI_Allgather(send, static_cast<int>(bytes), MPI_BYTE, recv, static_cast<int>(bytes), MPI_BYTE, mpi_->comm);
  Account(t0, bytes * static_cast<size_t>(size_));
}

void Communicator::AllReduceSum(float* data, int64_t n) {
  if (size_ == 1) return;
  const int64_t t0 = Now();
  const auto un = static_cast<size_t>(n);
  if (gathered_.size() < un * static_cast<size_t>(size_)) gathered_.resize(un * static_cast<size_t>(size_));
  MPI_Allgather(data, static_cast<int>(n), MPI_FLOAT, gathered_.data(), static_cast<int>(n), MPI_FLOAT,
                mpi_->comm);
  // Rank order, the same on every rank: ((p0 + p1) + p2) + ...
  std::copy(gathered_.data(), gathered_.data() + un, data);
  for (int r = 1; r < size_; ++r) {
    const float* p = gathered_.data() + static_cast<size_t>(r) * un;
    for (size_t i = 0; i < un; ++i) data[i] += p[i];
  }
  Account(t0, un * sizeof(float) * static_cast<size_t>(size_));
}

void Communicator::Abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::abort();
}

#else  // !WEFT_HAVE_MPI

struct Communicator::Mpi {};
Communicator::Communicator() = default;
Communicator::~Communicator() = default;
Communicator* Communicator::Split(int, int) { return this; }
void Communicator::Send(const void*, size_t, int, int) {}
void Communicator::Recv(void*, size_t, int, int) {}
void Communicator::SendAsync(const void*, size_t, int, int) {}
void Communicator::WaitSends() {}

StatusOr<Communicator*> Communicator::World() {
  return UnimplementedError(
      "this weft was built without MPI (libopenmpi-dev, scripts/install-deps.sh): no tensor parallelism");
}
void Communicator::Broadcast(void*, size_t, int) {}
void Communicator::BroadcastPolling(void*, size_t, int) {}
void Communicator::AllGather(const void* send, size_t bytes, void* recv) {
  std::copy(static_cast<const uint8_t*>(send), static_cast<const uint8_t*>(send) + bytes, static_cast<uint8_t*>(recv));
}
void Communicator::AllReduceSum(float*, int64_t) {}
void Communicator::Abort(int code) { std::exit(code); }

#endif

}  // namespace weft::dist
