// SHA-256 (FIPS 180-4), incremental: feed bytes with Update() in any number of pieces,
// then Final() gives the digest as 64 lowercase hex characters. Used to check
// downloaded files against the lfs oid the Hugging Face hub lists for them.
//
// Thread-safety: a value type; one hasher per thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace weft {

class Sha256 {
 public:
  Sha256();

  void Update(const void* data, size_t size);
  void Update(std::string_view bytes) { Update(bytes.data(), bytes.size()); }

  // Finishes the hash and returns it as lowercase hex. The hasher is then reset, so it
  // can be reused for a new message.
  std::string Final();
  // Same, as the 32 raw bytes.
  std::array<uint8_t, 32> FinalBytes();

  void Reset();

 private:
  void ProcessBlock(const uint8_t* block);

  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buffer_;
  size_t buffered_ = 0;        // bytes in buffer_, < 64
  uint64_t total_bytes_ = 0;   // message length so far
};

// One-shot helper: hex SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes);

}  // namespace weft
