// LeaP's router (pipelines.md §2(a) step 5) and the peer tool role that
// runs it: Levenshtein-ratio peer selection over the still-active paths,
// and the routing decision as JSON, which is what the route steps record.
#include <simdjson.h>

#include <algorithm>
#include <random>
#include <set>
#include <stdexcept>

#include "common/json_writer.hpp"
#include "scoring/levenshtein.hpp"
#include "workflows/leap/leap.hpp"

namespace troupe::workflows {

using actors::Candidate;
using actors::RoleOutput;
using actors::RoleTask;

LeapRoute leap_route(int receiver, const std::vector<std::pair<int, std::string>>& summaries,
                     LeapRouter router, int top_k, uint64_t seed) {
  LeapRoute r;
  r.receiver = receiver;
  const std::string* mine = nullptr;
  for (const auto& [id, s] : summaries)
    if (id == receiver) mine = &s;
  struct Other {
    int id;
    double ratio;
  };
  std::vector<Other> others;
  for (const auto& [id, s] : summaries)
    if (id != receiver) others.push_back({id, scoring::levenshtein_ratio(mine ? *mine : std::string(), s)});
  std::sort(others.begin(), others.end(), [](const Other& a, const Other& b) { return a.id < b.id; });
  auto take = [&](const Other& o) {
    r.peers.push_back(o.id);
    r.similarities.push_back(o.ratio);
  };
  if (others.empty()) {
    r.mode = "none";
    return r;
  }
  if (top_k < 0) {
    r.mode = "all";
    for (const auto& o : others) take(o);
    return r;
  }
  size_t k = std::min(static_cast<size_t>(top_k), others.size());
  r.mode = kLeapRouterNames.at(static_cast<size_t>(router));
  auto ascending = others, descending = others;
  std::stable_sort(ascending.begin(), ascending.end(), [](const Other& a, const Other& b) { return a.ratio < b.ratio; });
  std::stable_sort(descending.begin(), descending.end(), [](const Other& a, const Other& b) { return a.ratio > b.ratio; });
  switch (router) {
    case LeapRouter::clustered:
      for (size_t i = 0; i < k; ++i) take(descending[i]);
      break;
    case LeapRouter::hybrid: {
      size_t low = k / 2;
      std::set<int> chosen;
      for (size_t i = 0; i < low; ++i) {
        take(ascending[i]);
        chosen.insert(ascending[i].id);
      }
      for (size_t i = 0; i < descending.size() && r.peers.size() < k; ++i)
        if (!chosen.count(descending[i].id)) take(descending[i]);
      break;
    }
    case LeapRouter::random: {
      // A partial Fisher–Yates shuffle over the ids in order; mt19937_64's
      // output is fixed by the standard, so the draw is the same everywhere.
      std::mt19937_64 rng(seed);
      auto pool = others;
      for (size_t i = 0; i < k; ++i) {
        size_t j = i + static_cast<size_t>(rng() % (pool.size() - i));
        std::swap(pool[i], pool[j]);
        take(pool[i]);
      }
      break;
    }
    case LeapRouter::dispersed:
      for (size_t i = 0; i < k; ++i) take(ascending[i]);
      break;
  }
  return r;
}

std::string leap_route_json(const LeapRoute& route) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().field("receiver", route.receiver).key("peers").begin_array();
  for (int id : route.peers) w.value(id);
  w.end_array().key("similarities").begin_array();
  for (double s : route.similarities) w.value(s);
  w.end_array().field("mode", route.mode).end_object();
  return out;
}

Result<LeapRoute> leap_parse_route(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  LeapRoute r;
  int64_t receiver = 0;
  std::string_view mode;
  simdjson::dom::array peers, sims;
  if (parser.parse(json.data(), json.size()).get(doc) || doc["receiver"].get(receiver) || doc["peers"].get(peers) ||
      doc["similarities"].get(sims) || doc["mode"].get(mode))
    return Error{ErrorCode::parse, "routing decision is not {receiver, peers, similarities, mode}: " + std::string(json)};
  r.receiver = static_cast<int>(receiver);
  r.mode = std::string(mode);
  for (auto e : peers) {
    int64_t id = 0;
    if (e.get(id)) return Error{ErrorCode::parse, "routing decision: a peer id is not an integer"};
    r.peers.push_back(static_cast<int>(id));
  }
  for (auto e : sims) {
    double s = 0;
    if (e.get(s)) return Error{ErrorCode::parse, "routing decision: a similarity is not a number"};
    r.similarities.push_back(s);
  }
  return r;
}

// The peer tool role: "route" decides one receiver's peers; "transcript"
// echoes a path's whole text as a step of its own.
RoleOutput leap_peer_tool(const LeapParams& p, const RoleTask& task) {
  RoleOutput out;
  auto var = [&](const char* k) {
    auto it = task.vars.find(k);
    if (it == task.vars.end()) throw std::runtime_error(std::string("missing var '") + k + "'");
    return it->second;
  };
  Candidate c;
  c.finish = "stop";
  if (var("op") == "transcript") {
    out.prompt = task.messages;
    c.text = var("text");
    c.answer = var("answer");
    out.candidates.push_back(std::move(c));
    return out;
  }
  int receiver = std::stoi(var("receiver"));
  std::string summaries_json = var("summaries");
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(summaries_json).get(doc) || !doc.is_array())
    throw std::runtime_error("summaries: not a JSON array");
  std::vector<std::pair<int, std::string>> summaries;
  for (auto e : doc.get_array()) {
    int64_t id = 0;
    std::string_view s;
    if (e["path"].get(id) || e["summary"].get(s)) throw std::runtime_error("summaries: entries need path and summary");
    summaries.emplace_back(static_cast<int>(id), std::string(s));
  }
  LeapRoute r = leap_route(receiver, summaries, p.router, p.top_k, std::stoull(var("seed")));
  out.prompt = {{"user", "receiver: " + std::to_string(receiver) + "\nsummaries: " + summaries_json}};
  c.text = leap_route_json(r);
  out.candidates.push_back(std::move(c));
  return out;
}

}  // namespace troupe::workflows
