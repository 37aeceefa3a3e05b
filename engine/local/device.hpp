// Where the local engine computes: `cpu`, or `cuda` / `cuda:N` (an NVIDIA
// GPU, when this build has the CUDA backend). One parser and one factory
// serve every place a device is named: `--device` on generate, serve and
// bench, `device:` in workflow backends and the daemon config.
//
// What callers may rely on:
// - parse_device() accepts exactly "cpu", "cuda" (device 0) and "cuda:N"
//   (N a decimal device index); anything else is an invalid_argument error
//   quoting the text and listing the accepted forms.
// - make_kernels() never aborts: asking for CUDA in a build without it, or
//   on a machine without a usable GPU, is an `unsupported` error that says
//   which, and how to get the CPU path (--device cpu).
// - describe_devices() is a human-readable report for `troupe doctor`: the
//   CPU features the CPU path uses, whether CUDA was compiled in, and each
//   GPU found (or why none was).
#pragma once

#include <charconv>
#include <memory>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "engine/local/kernels.hpp"

namespace troupe::engine::local {

struct Device {
  enum class Kind { cpu, cuda };
  Kind kind = Kind::cpu;
  int index = 0;  // cuda: the device ordinal
  bool operator==(const Device&) const = default;
};

// Inline (header-only) so that a loader can check a device name without
// linking the engine.
inline Result<Device> parse_device(std::string_view text) {
  auto bad = [&] {
    return Error{ErrorCode::invalid_argument,
                 "device '" + std::string(text) + "': expected cpu, cuda or cuda:N (N a GPU index, e.g. cuda:0)"};
  };
  if (text == "cpu") return Device{Device::Kind::cpu, 0};
  if (text == "cuda") return Device{Device::Kind::cuda, 0};
  if (text.substr(0, 5) != "cuda:" || text.size() == 5 || text.size() > 8) return bad();
  int index = 0;
  const std::string_view digits = text.substr(5);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  if (ec != std::errc{} || end != digits.data() + digits.size() || index < 0) return bad();
  return Device{Device::Kind::cuda, index};
}

inline std::string to_string(const Device& d) {
  return d.kind == Device::Kind::cpu ? "cpu" : "cuda:" + std::to_string(d.index);
}

// Whether this build has the CUDA backend (nvcc was found when it was built).
bool cuda_compiled();

// The kernels for `device`; `cpu_threads` is used by the CPU backend only
// (>= 1).
Result<std::shared_ptr<Kernels>> make_kernels(const Device& device, int cpu_threads);

std::string describe_devices();

}  // namespace troupe::engine::local
