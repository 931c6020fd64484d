// Communicator: the process group a tensor-parallel model runs over (MPI_COMM_WORLD, as
// `mpirun -np N` started it). The collectives weft needs, and no more: broadcast,
// all-gather and a sum all-reduce whose reduction order is fixed (every rank's part is
// gathered to every rank, then summed in rank order 0, 1, ..., N-1), so its result is
// bit-identical on every rank, on every run and whatever MPI's own algorithms choose.
//
//   WEFT_ASSIGN_OR_RETURN(dist::Communicator* comm, dist::Communicator::World());
//   comm->AllReduceSum(partial.data(), n);      // partial: [n] floats, summed in place
//
// Split() gives a sub-group (the tensor-parallel ranks of one pipeline stage); Send /
// Recv / SendAsync move a buffer between two ranks (pipeline stages' activations).
//
// Built without MPI (WEFT_HAVE_MPI undefined), World() is Unimplemented.
// Ownership: World() is process-wide and lives until exit; MPI is finalised at exit.
// Split()'s groups live until exit too, and add their time and bytes to the world's
// counters (one figure per process).
// Thread-safety: MPI is initialised MPI_THREAD_SERIALIZED: one thread at a time calls
// the collectives (in weft, the engine thread on rank 0 and the follower loop on the
// others). comm_ns() may be read from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "weft/status.h"

namespace weft::dist {

class Communicator {
 public:
  // Initialises MPI on the first call; the same object afterwards.
  static StatusOr<Communicator*> World();
  // Whether this binary was built with MPI.
  static bool Available();
  // Whether the process was started by mpirun/mpiexec (Open MPI's or PMIx's environment).
  static bool LaunchedByMpirun();

  int rank() const { return rank_; }
  int size() const { return size_; }
  // The host name MPI reports (for messages).
  const std::string& host() const { return host_; }

  // bytes of `data` from `root` to every rank (blocking).
  void Broadcast(void* data, size_t bytes, int root);
  // The same, but the receiving ranks wait by polling with short sleeps once the wait
  // is long (an idle server must not spin a core on every follower rank).
  void BroadcastPolling(void* data, size_t bytes, int root);
  // recv: [size * bytes], rank r's `send` at r * bytes.
  void AllGather(const void* send, size_t bytes, void* recv);
  // data [n] <- sum over ranks of data, in rank order (deterministic; see above).
  void AllReduceSum(float* data, int64_t n);
  // A sub-group of the ranks with the same `color`, ordered by `key` (collective over
  // this group: every rank calls it, in the same order).
  Communicator* Split(int color, int key);
  // Point-to-point, in this group's ranks; `tag` tells messages between the same two
  // ranks apart. Send/Recv block; SendAsync returns at once and `data` must stay
  // untouched until WaitSends() (which completes every SendAsync of this group). Recv and
  // WaitSends poll with short sleeps after 50 us, not spin (a waiting stage must not take
  // a core from a computing one).
  void Send(const void* data, size_t bytes, int dest, int tag);
  void Recv(void* data, size_t bytes, int source, int tag);
  void SendAsync(const void* data, size_t bytes, int dest, int tag);
  void WaitSends();
  // Ends every rank of the job (after a fatal error on one of them); does not return.
  [[noreturn]] void Abort(int code);

  // Nanoseconds spent in the collectives above, since start, and their count.
  int64_t comm_ns() const { return comm_ns_.load(std::memory_order_relaxed); }
  int64_t comm_calls() const { return comm_calls_.load(std::memory_order_relaxed); }
  int64_t comm_bytes() const { return comm_bytes_.load(std::memory_order_relaxed); }

 private:
  struct Mpi;  // the MPI_Comm and pending requests (communicator.cc)
  Communicator();
  ~Communicator();
  void Account(int64_t t0, size_t bytes);

  Mpi* mpi_ = nullptr;
  Communicator* counters_ = this;  // whose comm_* the time and bytes go to (the world's)

  int rank_ = 0;
  int size_ = 1;
  std::string host_;
  std::vector<float> gathered_;  // AllReduceSum's [size, n] scratch
  std::atomic<int64_t> comm_ns_{0};
  std::atomic<int64_t> comm_calls_{0};
  std::atomic<int64_t> comm_bytes_{0};
};

}  // namespace weft::dist
