// `troupe daemon` as a separate process (see cli/troupe_process.hpp): ready
// when it says where it listens.
#pragma once

#include "cli/troupe_process.hpp"

namespace troupe::testing {

class DaemonProcess : public TroupeProcess {
 public:
  explicit DaemonProcess(const std::vector<std::string>& args)
      : TroupeProcess("daemon", args, "listening on http://127\\.0\\.0\\.1:([0-9]+)") {}
};

}  // namespace troupe::testing
