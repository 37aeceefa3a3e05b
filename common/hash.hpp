// Small non-cryptographic hashes used for seeds, cache keys and
// deterministic draws: 64-bit FNV-1a and splitmix64.
//
// Callers may rely on: every function is a pure constexpr function of its
// arguments, identical on every platform and in every build (values are
// stored — e.g. prefix-cache keys, seeds derived from item ids — and tests
// compare them across runs). None of these is fit for anything an
// adversary chooses to collide; use sha256_hex (common/ids.hpp) there.
#pragma once

#include <cstdint>
#include <string_view>

namespace troupe::hash {

inline constexpr uint64_t kFnv1aOffset = 0xcbf29ce484222325ull;
inline constexpr uint64_t kFnv1aPrime = 0x100000001b3ull;

// FNV-1a over the bytes of `s`, continuing from `h` (start: kFnv1aOffset).
constexpr uint64_t fnv1a64(std::string_view s, uint64_t h = kFnv1aOffset) {
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * kFnv1aPrime;
  return h;
}

// FNV-1a over the 8 bytes of `v`, least significant first, continuing
// from `h`.
constexpr uint64_t fnv1a64_u64(uint64_t v, uint64_t h = kFnv1aOffset) {
  for (int i = 0; i < 8; ++i) h = (h ^ ((v >> (8 * i)) & 0xffu)) * kFnv1aPrime;
  return h;
}

// splitmix64's output function: a bijective mix of x + golden-ratio step.
// splitmix64(x) is the value splitmix64_next returns from state x.
constexpr uint64_t splitmix64(uint64_t x) {
  uint64_t z = x + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The splitmix64 generator: advances `state` and returns the next value.
constexpr uint64_t splitmix64_next(uint64_t& state) {
  const uint64_t out = splitmix64(state);
  state += 0x9e3779b97f4a7c15ull;
  return out;
}

}  // namespace troupe::hash
