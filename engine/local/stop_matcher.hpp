// Stop strings matched across token boundaries. Text arrives in pieces (a
// token's decoded bytes); StopMatcher holds back just enough of the tail
// to see a stop string that straddles pieces, releases the rest as safe
// output, and reports the first stop string matched (the earliest in the
// text; at the same position, the one listed first).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace troupe::engine::local {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  struct Step {
    std::string release;               // text now safe to emit
    std::optional<std::string> stopped;  // the stop string, when matched
  };
  // Adds a piece. After a match, the matched string and anything after it
  // are dropped and further pushes release nothing.
  Step push(const std::string& piece);
  // End of generation: everything still held back.
  std::string flush();

 private:
  std::vector<std::string> stops_;
  size_t longest_ = 0;
  std::string pending_;
  bool done_ = false;
};

}  // namespace troupe::engine::local
