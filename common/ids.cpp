#include "common/ids.hpp"

#include <openssl/evp.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <random>
#include <stdexcept>

#include "common/clock.hpp"

namespace troupe {
namespace {

void append_hex(std::string& out, uint64_t v, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) out.push_back(kHex[(v >> (4 * i)) & 0xF]);
}

uint64_t random_bits() {
  static std::mutex mu;
  static std::mt19937_64 rng{[] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }()};
  std::lock_guard<std::mutex> lock(mu);
  return rng();
}

}  // namespace

std::string new_id(std::string_view prefix) {
  // Monotonic within the process even if the wall clock steps back or two
  // ids fall into the same millisecond: the counter breaks ties.
  static std::atomic<uint64_t> last{0};
  uint64_t ms = static_cast<uint64_t>(now_unix_ms());
  uint64_t prev = last.load();
  uint64_t stamp;
  do {
    stamp = ms > prev ? ms : prev;
  } while (!last.compare_exchange_weak(prev, stamp));
  std::string out(prefix);
  if (!out.empty()) out.push_back('-');
  append_hex(out, stamp, 12);
  append_hex(out, random_bits() & 0xFFFFFFFFFFull, 10);
  return out;
}

// SHA-256 (FIPS 180-4) through OpenSSL's EVP interface (libcrypto).
std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1 || length != 32)
    throw std::runtime_error("sha256_hex: libcrypto's EVP_Digest failed");  // out of memory; never a user's input
  std::string out;
  out.reserve(64);
  for (unsigned int i = 0; i < length; ++i) append_hex(out, digest[i], 2);
  return out;
}

}  // namespace troupe
