// Reading YAML that comes from outside the process — workflow files, workflow
// text sent to the daemon over HTTP, the daemon's config, search-space files,
// scripted-backend fixtures — with a bound on what reading it may cost.
//
// yaml-cpp alone builds a graph in which an alias is a pointer to its
// anchor's node: a 1.5 KB "billion laughs" file parses quickly, but whoever
// walks the tree (the loader turning Archon layers into JSON, an emitter)
// visits an exponential number of nodes. An alias inside the node it names
// makes a cycle, and deep nesting ends in yaml-cpp's own recursion guard,
// whose message is only "bad file".
//
// read_yaml_documents() streams the parser's events first, counting what
// the text holds with every alias expanded (an anchor's expanded size is
// remembered, so this pass costs time linear in the text), and builds the
// node trees only when the count stays within YamlLimits.
//
// Callers may rely on:
// - Every returned tree, walked with its aliases followed, has at most
//   `max_nodes` nodes (maps, lists, scalars, nulls), at most
//   `max_scalar_bytes` bytes of scalar text and at most `max_depth` levels of
//   nested maps and lists, summed over all documents; no alias refers to a
//   node that contains it, so a walk always ends.
// - A problem is an Error with ErrorCode::parse and the message
//   "NAME:LINE:COL: what is wrong" (1-based; NAME as given), for example
//   "w.yaml:9:14: alias expansion exceeds 100000 nodes ...",
//   "w.yaml:600:3: nesting deeper than 64 levels ...",
//   "w.yaml:2:10: YAML syntax error: ...". Nothing throws.
// - Text longer than `max_bytes` is refused before it is parsed.
// - Safe to call from any thread (no shared state).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace troupe {

struct YamlLimits {
  size_t max_bytes = size_t{4} << 20;          // the text itself: 4 MiB
  int max_depth = 64;                          // nested maps and lists
  size_t max_nodes = 100'000;                  // with every alias expanded
  size_t max_scalar_bytes = size_t{8} << 20;   // scalar text, aliases expanded: 8 MiB
};

// All documents of `text` (an empty text has none).
Result<std::vector<YAML::Node>> read_yaml_documents(const std::string& text, const std::string& name,
                                                    const YamlLimits& limits = {});

// The first document, like YAML::Load: a Null node when `text` holds none.
// Later documents are checked against the limits too, and then ignored.
Result<YAML::Node> read_yaml(const std::string& text, const std::string& name, const YamlLimits& limits = {});

// "NAME:LINE:COL: " for a yaml-cpp mark (0-based; an unset mark reads as 1:1).
std::string yaml_location(const std::string& name, const YAML::Mark& mark);

}  // namespace troupe
