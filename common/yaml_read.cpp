#include "common/yaml_read.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <sstream>
#include <unordered_map>

namespace troupe {
namespace {

// A limit crossed while streaming events; thrown out of the parser (which
// unwinds cleanly) and turned into an Error by check_limits().
struct LimitCrossed {
  YAML::Mark mark;
  std::string message;
};

// Counts nodes and scalar bytes with aliases expanded, and nesting depth.
class BoundsCheck : public YAML::EventHandler {
 public:
  explicit BoundsCheck(const YamlLimits& limits) : limits_(limits) {}

  void OnDocumentStart(const YAML::Mark& mark) override {
    // yaml-cpp 0.7 can loop forever on some malformed text, starting empty
    // document after empty document at the same place; real documents
    // never start where the previous one did.
    if (documents_++ > 0 && mark.pos == last_document_pos_)
      throw LimitCrossed{mark, "YAML syntax error: the parser cannot go on from here (it reads no further)"};
    last_document_pos_ = mark.pos;
    anchors_.clear();
    open_.clear();
  }
  void OnDocumentEnd() override {}

  void OnAnchor(const YAML::Mark&, const std::string& name) override { pending_name_ = name; }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor, 0); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, const std::string& value) override {
    leaf(mark, anchor, value.size());
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end() || !it->second.done)
      throw LimitCrossed{mark, "alias " + alias_name(anchor) +
                                   " refers to a map or list that contains it (a cycle, which troupe does not read)"};
    add(mark, it->second.nodes, it->second.bytes, anchor);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Size {
    std::string name;
    uint64_t nodes = 0;
    uint64_t bytes = 0;
    bool done = false;
  };
  struct Open {
    YAML::anchor_t anchor;
    uint64_t nodes;
    uint64_t bytes;
  };

  std::string alias_name(YAML::anchor_t anchor) const {
    auto it = anchors_.find(anchor);
    return it == anchors_.end() || it->second.name.empty() ? "*?" : "*" + it->second.name;
  }

  void name_anchor(YAML::anchor_t anchor) {
    if (anchor == YAML::NullAnchor) return;
    anchors_[anchor].name = pending_name_;
    pending_name_.clear();
  }

  // `nodes` and `bytes` more, seen at `mark`; `alias` when they come from
  // expanding an alias. Sizes stay below the limits, so nothing overflows.
  void add(const YAML::Mark& mark, uint64_t nodes, uint64_t bytes, YAML::anchor_t alias = YAML::NullAnchor) {
    total_nodes_ += nodes;
    total_bytes_ += bytes;
    if (!open_.empty()) {
      open_.back().nodes += nodes;
      open_.back().bytes += bytes;
    }
    std::string at = alias == YAML::NullAnchor ? "" : " (alias " + alias_name(alias) + " here)";
    if (total_nodes_ > limits_.max_nodes) {
      std::string n = std::to_string(limits_.max_nodes);
      throw LimitCrossed{mark, (alias || expanded_ ? "alias expansion exceeds " + n + " nodes" + at +
                                                         "; troupe reads at most " + n +
                                                         " maps, lists and scalars with every alias expanded"
                                                   : "more than " + n + " nodes (maps, lists and scalars); troupe reads at most " + n)};
    }
    if (total_bytes_ > limits_.max_scalar_bytes) {
      std::string n = std::to_string(limits_.max_scalar_bytes);
      throw LimitCrossed{mark, (alias || expanded_ ? "alias expansion exceeds " + n + " bytes of text" + at +
                                                         "; troupe reads at most " + n +
                                                         " bytes of scalar text with every alias expanded"
                                                   : "more than " + n + " bytes of scalar text; troupe reads at most " + n)};
    }
    if (alias) expanded_ = true;
  }

  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor, uint64_t bytes) {
    name_anchor(anchor);
    add(mark, 1, bytes);
    if (anchor != YAML::NullAnchor) {
      Size& s = anchors_[anchor];
      s.nodes = 1;
      s.bytes = bytes;
      s.done = true;
    }
  }

  void open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    name_anchor(anchor);
    if (static_cast<int>(open_.size()) >= limits_.max_depth) {
      std::string n = std::to_string(limits_.max_depth);
      throw LimitCrossed{mark, "nesting deeper than " + n + " levels: this map or list is level " +
                                   std::to_string(open_.size() + 1) + "; troupe reads at most " + n +
                                   " levels of nested maps and lists"};
    }
    add(mark, 1, 0);  // counted in the parent (if any) before this one opens
    open_.push_back(Open{anchor, 1, 0});
  }

  void close() {
    Open done = open_.back();
    open_.pop_back();
    if (!open_.empty()) {
      // The parent already counted this collection's own node; add the rest.
      open_.back().nodes += done.nodes - 1;
      open_.back().bytes += done.bytes;
    }
    if (done.anchor != YAML::NullAnchor) {
      Size& s = anchors_[done.anchor];
      s.nodes = done.nodes;
      s.bytes = done.bytes;
      s.done = true;
    }
  }

  const YamlLimits& limits_;
  std::unordered_map<YAML::anchor_t, Size> anchors_;  // this document's
  std::vector<Open> open_;
  std::string pending_name_;
  uint64_t total_nodes_ = 0;
  uint64_t total_bytes_ = 0;
  bool expanded_ = false;  // an alias was expanded before
  uint64_t documents_ = 0;
  int last_document_pos_ = -1;
};

Error parse_error(const std::string& name, const YAML::Mark& mark, const std::string& message) {
  return Error(ErrorCode::parse, yaml_location(name, mark) + message);
}

}  // namespace

std::string yaml_location(const std::string& name, const YAML::Mark& mark) {
  return name + ":" + std::to_string(std::max(mark.line, 0) + 1) + ":" + std::to_string(std::max(mark.column, 0) + 1) +
         ": ";
}

Result<std::vector<YAML::Node>> read_yaml_documents(const std::string& text, const std::string& name,
                                                    const YamlLimits& limits) {
  if (text.size() > limits.max_bytes)
    return parse_error(name, YAML::Mark(), "the text is " + std::to_string(text.size()) +
                                               " bytes; troupe reads at most " + std::to_string(limits.max_bytes) +
                                               " bytes of YAML");
  try {
    // Pass 1: events only; nothing is built.
    std::istringstream events_in(text);
    YAML::Parser parser(events_in);
    BoundsCheck check(limits);
    while (parser.HandleNextDocument(check)) {
    }
    // Pass 2: the trees, now known to be small.
    return YAML::LoadAll(text);
  } catch (const LimitCrossed& e) {
    return parse_error(name, e.mark, e.message);
  } catch (const YAML::DeepRecursion& e) {
    // Only reached when max_depth is above yaml-cpp's own guard.
    return parse_error(name, e.mark, "nesting deeper than yaml-cpp reads (" + std::to_string(e.depth()) +
                                         " levels of parsing); troupe reads at most " +
                                         std::to_string(limits.max_depth) + " levels of nested maps and lists");
  } catch (const YAML::ParserException& e) {
    return parse_error(name, e.mark, "YAML syntax error: " + e.msg);
  } catch (const YAML::Exception& e) {
    return parse_error(name, e.mark, "cannot read YAML: " + e.msg);
  }
}

Result<YAML::Node> read_yaml(const std::string& text, const std::string& name, const YamlLimits& limits) {
  auto docs = read_yaml_documents(text, name, limits);
  if (!docs.ok()) return docs.error();
  if (docs->empty()) return YAML::Node();
  return (*docs)[0];
}

}  // namespace troupe
