#include <catch2/catch.hpp>

#include <numeric>
#include <random>

#include "engine/local/kv_cache.hpp"

using namespace troupe::engine::local;

namespace {

std::unique_ptr<KvCache> make_cache(int blocks, int block_size = 4) {
  KvCacheConfig c;
  c.n_layers = 2;
  c.kv_dim = 3;
  c.block_size = block_size;
  c.budget_bytes = static_cast<size_t>(blocks) * 2 * 2 * static_cast<size_t>(block_size) * 3 * sizeof(float);
  auto r = KvCache::create(c);
  REQUIRE(r.ok());
  REQUIRE((*r)->n_blocks() == blocks);
  return std::move(r.value());
}

std::vector<int32_t> seq_tokens(int n, int start = 100) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), start);
  return t;
}

// Writes a recognisable value for (token position, layer) into the rows.
void write_rows(KvCache& kv, KvCache::SeqId s, std::span<const int32_t> toks) {
  REQUIRE(kv.reserve(s, static_cast<int>(toks.size())));
  int pos = kv.length(s);
  const auto& table = kv.block_table(s);
  int bs = kv.config().block_size;
  for (size_t i = 0; i < toks.size(); ++i, ++pos) {
    int32_t b = table[static_cast<size_t>(pos / bs)];
    for (int l = 0; l < kv.config().n_layers; ++l) {
      float* row = kv.k_base(l) + (static_cast<size_t>(b) * bs + pos % bs) * kv.config().kv_dim;
      for (int d = 0; d < kv.config().kv_dim; ++d) row[d] = static_cast<float>(toks[i] * 10 + l);
    }
  }
  kv.append(s, toks);
}

float row_value(KvCache& kv, KvCache::SeqId s, int pos, int layer) {
  int bs = kv.config().block_size;
  int32_t b = kv.block_table(s)[static_cast<size_t>(pos / bs)];
  return kv.k_base(layer)[(static_cast<size_t>(b) * bs + pos % bs) * kv.config().kv_dim];
}

}  // namespace

TEST_CASE("a prompt seen before reuses its cached full blocks and leaves one token to compute", "[kv]") {
  auto kv = make_cache(16);
  auto prompt = seq_tokens(10);
  auto a = kv->open(prompt);
  CHECK(a.cached_tokens == 0);
  write_rows(*kv, a.seq, prompt);
  kv->release(a.seq);
  auto b = kv->open(prompt);
  CHECK(b.cached_tokens == 9);  // two full blocks of 4 and the kept partial block; the last token is computed again
  for (int p = 0; p < 8; ++p) CHECK(row_value(*kv, b.seq, p, 1) == static_cast<float>(prompt[p] * 10 + 1));
  // A prompt that is a whole number of blocks still leaves its last token.
  auto exact = seq_tokens(8);
  auto c = kv->open(exact);
  CHECK(c.cached_tokens == 7);  // one full block, then 3 rows of the second
}

TEST_CASE("a different prefix does not hit, even where later blocks match", "[kv]") {
  auto kv = make_cache(16);
  auto p1 = seq_tokens(9);
  auto s1 = kv->open(p1);
  write_rows(*kv, s1.seq, p1);
  auto p2 = p1;
  p2[0] = 999;  // first block differs; second block's tokens are the same
  auto s2 = kv->open(p2);
  CHECK(s2.cached_tokens == 0);
}

TEST_CASE("forked sequences share blocks and copy on write where they diverge", "[kv]") {
  auto kv = make_cache(16);
  auto prompt = seq_tokens(6);  // 1 full block + 2 tokens in a partial block
  auto a = kv->open(prompt);
  write_rows(*kv, a.seq, prompt);
  int used = kv->blocks_in_use();
  CHECK(used == 2);
  auto b = kv->fork(a.seq);
  CHECK(kv->blocks_in_use() == used);  // forking copies nothing
  CHECK(kv->block_table(b) == kv->block_table(a.seq));
  std::vector<int32_t> ta{7}, tb{8};
  write_rows(*kv, a.seq, ta);  // a writes into the shared partial block: copied first
  CHECK(kv->stats().copies == 1);
  write_rows(*kv, b, tb);  // b now owns the original alone: no copy
  CHECK(kv->stats().copies == 1);
  CHECK(kv->block_table(a.seq)[0] == kv->block_table(b)[0]);  // full block still shared
  CHECK(kv->block_table(a.seq)[1] != kv->block_table(b)[1]);
  CHECK(row_value(*kv, a.seq, 6, 0) == 70.f);
  CHECK(row_value(*kv, b, 6, 0) == 80.f);
  CHECK(row_value(*kv, a.seq, 5, 0) == row_value(*kv, b, 5, 0));  // copied rows kept
}

TEST_CASE("released blocks stay cached until space is needed, least recently used first", "[kv]") {
  auto kv = make_cache(4);
  auto p1 = seq_tokens(9, 100);  // 3 blocks, 2 of them full and indexed
  auto s1 = kv->open(p1);
  write_rows(*kv, s1.seq, p1);
  kv->release(s1.seq);
  CHECK(kv->blocks_in_use() == 0);
  CHECK(kv->free_blocks() == 4);
  auto p2 = seq_tokens(13, 500);  // needs 4 blocks: evicts the cached ones
  auto s2 = kv->open(p2);
  write_rows(*kv, s2.seq, p2);
  CHECK(kv->stats().evictions == 3);  // two full blocks and the kept partial one
  kv->release(s2.seq);
  auto again = kv->open(p1);
  CHECK(again.cached_tokens == 0);  // evicted
}

TEST_CASE("reserve fails without side effects when the budget is exhausted", "[kv]") {
  auto kv = make_cache(2);
  auto p = seq_tokens(8);
  auto s = kv->open(p);
  write_rows(*kv, s.seq, p);
  auto other = kv->open(seq_tokens(3, 900));
  auto table = kv->block_table(s.seq);
  CHECK_FALSE(kv->reserve(other.seq, 1));
  CHECK(kv->block_table(s.seq) == table);
  CHECK(kv->length(other.seq) == 0);
  kv->release(s.seq);
  CHECK(kv->reserve(other.seq, 3));  // cached blocks are evictable now
}

TEST_CASE("random workloads keep reference counts consistent", "[kv][property]") {
  std::mt19937 rng(7);
  auto kv = make_cache(32);
  std::vector<KvCache::SeqId> live;
  for (int step = 0; step < 2000; ++step) {
    int op = static_cast<int>(rng() % 4);
    if (op == 0 || live.empty()) {
      auto p = seq_tokens(static_cast<int>(rng() % 12) + 1, static_cast<int>(rng() % 3) * 50);
      auto o = kv->open(p);
      std::span<const int32_t> rest(p.data() + o.cached_tokens, p.size() - static_cast<size_t>(o.cached_tokens));
      if (kv->reserve(o.seq, static_cast<int>(rest.size()))) {
        kv->append(o.seq, rest);
        live.push_back(o.seq);
      } else {
        kv->release(o.seq);
      }
    } else if (op == 1) {
      live.push_back(kv->fork(live[rng() % live.size()]));
    } else if (op == 2) {
      auto s = live[rng() % live.size()];
      std::vector<int32_t> t{static_cast<int32_t>(rng() % 1000)};
      if (kv->reserve(s, 1)) kv->append(s, t);
    } else {
      size_t i = rng() % live.size();
      kv->release(live[i]);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    }
    REQUIRE(kv->blocks_in_use() + kv->free_blocks() == kv->n_blocks());
  }
  for (auto s : live) kv->release(s);
  CHECK(kv->blocks_in_use() == 0);
}

TEST_CASE("a continuation reuses a released sequence's partial block and copies it on write", "[kv]") {
  auto kv = make_cache(16);
  auto first = seq_tokens(6);  // 1 full block + 2 tokens
  auto a = kv->open(first);
  write_rows(*kv, a.seq, first);
  kv->release(a.seq);
  auto longer = seq_tokens(11);  // the same 6 tokens, then 5 more
  auto b = kv->open(longer);
  CHECK(b.cached_tokens == 6);
  std::vector<int32_t> rest(longer.begin() + 6, longer.end());
  write_rows(*kv, b.seq, rest);
  CHECK(kv->stats().copies == 1);  // the kept block is immutable: written through a copy
  for (int p = 0; p < 11; ++p) CHECK(row_value(*kv, b.seq, p, 0) == static_cast<float>(longer[p] * 10));
  // The original partial block is still there for another continuation.
  auto other = seq_tokens(6);
  other.push_back(7777);
  auto c = kv->open(other);
  CHECK(c.cached_tokens == 6);
}
