#include <catch2/catch.hpp>

#include <cmath>
#include <map>

#include "engine/local/sampler.hpp"
#include "engine/local/stop_matcher.hpp"

using namespace troupe::engine::local;

TEST_CASE("temperature 0 is greedy, ties go to the lowest id", "[sampling]") {
  std::vector<float> logits{1.f, 3.f, 3.f, -2.f};
  SamplerParams p;
  p.temperature = 0;
  SequenceRng rng(1, 0);
  auto t = Sampler::sample(logits, p, {}, rng);
  CHECK(t.id == 1);
  double z = std::log(std::exp(1.0) + 2 * std::exp(3.0) + std::exp(-2.0));
  CHECK(t.logprob == Approx(3.0 - z).epsilon(1e-5));
}

TEST_CASE("the same seed gives the same tokens, different seeds differ", "[sampling]") {
  std::vector<float> logits(50);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(std::sin(i * 1.3));
  SamplerParams p;
  p.temperature = 1.0;
  auto draw = [&](uint64_t seed) {
    SequenceRng rng(seed, 0);
    std::vector<int32_t> out;
    for (int i = 0; i < 40; ++i) out.push_back(Sampler::sample(logits, p, {}, rng).id);
    return out;
  };
  CHECK(draw(42) == draw(42));
  CHECK(draw(42) != draw(43));
}

TEST_CASE("top_k, top_p and min_p restrict the candidates", "[sampling]") {
  std::vector<float> logits{5.f, 4.f, 3.f, 0.f, -1.f};
  auto seen = [&](SamplerParams p) {
    std::map<int32_t, int> count;
    SequenceRng rng(3, 0);
    for (int i = 0; i < 3000; ++i) ++count[Sampler::sample(logits, p, {}, rng).id];
    return count;
  };
  SamplerParams k;
  k.top_k = 2;
  auto ck = seen(k);
  CHECK(ck.size() == 2);
  CHECK(ck.count(0) == 1);
  CHECK(ck.count(1) == 1);
  SamplerParams tp;
  tp.top_p = 0.5;  // p(0) ~ 0.66 alone reaches 0.5
  CHECK(seen(tp).size() == 1);
  SamplerParams mp;
  mp.min_p = 0.3;  // keeps tokens with p >= 0.3 * p(0): ids 0 and 1 (0.24/0.66 = 0.37)
  auto cm = seen(mp);
  CHECK(cm.size() == 2);
  SamplerParams all;
  CHECK(seen(all).size() >= 4);
}

TEST_CASE("penalties push down tokens already seen", "[sampling]") {
  std::vector<float> logits{2.f, 1.9f};
  SamplerParams p;
  p.temperature = 0;
  SequenceRng rng(1, 0);
  std::vector<int32_t> history{0, 0};
  CHECK(Sampler::sample(logits, p, history, rng).id == 0);
  p.presence_penalty = 0.5;
  CHECK(Sampler::sample(logits, p, history, rng).id == 1);
  p.presence_penalty = 0;
  p.frequency_penalty = 0.06;  // 2 - 2*0.06 = 1.88 < 1.9
  CHECK(Sampler::sample(logits, p, history, rng).id == 1);
  p.frequency_penalty = 0;
  p.repetition_penalty = 1.1;  // 2 / 1.1 = 1.82 < 1.9
  CHECK(Sampler::sample(logits, p, history, rng).id == 1);
}

TEST_CASE("top-N logprobs are sorted and normalised", "[sampling]") {
  std::vector<float> logits{0.f, 2.f, 1.f};
  SamplerParams p;
  p.temperature = 0;
  p.logprobs = 2;
  SequenceRng rng(1, 0);
  auto t = Sampler::sample(logits, p, {}, rng);
  REQUIRE(t.top.size() == 2);
  CHECK(t.top[0].first == 1);
  CHECK(t.top[1].first == 2);
  double total = 0;
  for (float l : {0.f, 2.f, 1.f}) total += std::exp(l);
  CHECK(std::exp(t.top[0].second) == Approx(std::exp(2.0) / total).epsilon(1e-5));
}

TEST_CASE("stop strings are found across token boundaries and held back until decided", "[stop]") {
  StopMatcher m({"</answer>", "\n\n"});
  auto s1 = m.push("The answer is 4</ans");
  CHECK(s1.release == "The answer is 4");
  CHECK_FALSE(s1.stopped);
  auto s2 = m.push("w");
  CHECK(s2.release.empty());
  auto s3 = m.push("er> trailing");
  CHECK(s3.release.empty());
  REQUIRE(s3.stopped);
  CHECK(*s3.stopped == "</answer>");
  CHECK(m.push("more").release.empty());
}

TEST_CASE("a held-back prefix that does not complete a stop string is released", "[stop]") {
  StopMatcher m({"STOP"});
  CHECK(m.push("ab ST").release == "ab ");
  CHECK(m.push("ART").release == "START");
  CHECK(m.push("x S").release == "x ");
  CHECK(m.flush() == "S");
}

TEST_CASE("the earliest stop string wins", "[stop]") {
  StopMatcher m({"bb", "a"});
  auto s = m.push("xxbba");
  REQUIRE(s.stopped);
  CHECK(*s.stopped == "bb");
  CHECK(s.release == "xx");
}
