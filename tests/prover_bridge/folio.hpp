// FOLIO validation (../shared/data/folio) as prover problems, for the
// FOLIO test and the prover bench. Never copied into the repository.
#pragma once

#include <simdjson.h>

#include <string>
#include <vector>

#include "prover_bridge/prover.hpp"

namespace troupe::testing {

struct FolioItem {
  int line = 0;  // 1-based line in the JSONL file
  prover::Problem problem;
  std::string gold;
};

inline std::string folio_path() { return std::string(TROUPE_SHARED_DIR) + "/data/folio/folio-v0.0-validation.jsonl"; }

// Empty when the file is absent.
inline std::vector<FolioItem> load_folio() {
  std::vector<FolioItem> items;
  simdjson::padded_string json;
  if (simdjson::padded_string::load(folio_path()).get(json)) return items;
  simdjson::dom::parser parser;
  simdjson::dom::document_stream docs;
  if (parser.parse_many(json).get(docs)) return items;
  int line = 0;
  for (auto doc : docs) {
    FolioItem item;
    item.line = ++line;
    for (auto p : doc["premises-FOL"].get_array()) item.problem.premises.emplace_back(std::string_view(p.get_string()));
    item.problem.conclusion = std::string(std::string_view(doc["conclusion-FOL"].get_string()));
    item.gold = std::string(std::string_view(doc["label"].get_string()));
    items.push_back(std::move(item));
  }
  return items;
}

}  // namespace troupe::testing
