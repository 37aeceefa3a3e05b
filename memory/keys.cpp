#include "memory/keys.hpp"

namespace troupe::memory {

bool valid_run_id(std::string_view run_id) {
  return !run_id.empty() && run_id.find('\0') == std::string_view::npos;
}

std::string step_prefix(std::string_view run_id) {
  std::string key(run_id);
  key.push_back('\0');
  return key;
}

std::string step_prefix_end(std::string_view run_id) {
  std::string key(run_id);
  key.push_back('\x01');
  return key;
}

std::string step_key(std::string_view run_id, uint64_t seq) {
  std::string key = step_prefix(run_id);
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>((seq >> shift) & 0xFF));
  return key;
}

std::string call_key(std::string_view run_id, std::string_view key) {
  std::string out = step_prefix(run_id);
  out.append(key);
  return out;
}

std::optional<StepKey> parse_step_key(std::string_view key) {
  if (key.size() < 10 || key[key.size() - 9] != '\0') return std::nullopt;
  StepKey out;
  out.run_id = std::string(key.substr(0, key.size() - 9));
  if (!valid_run_id(out.run_id)) return std::nullopt;
  for (size_t i = key.size() - 8; i < key.size(); ++i)
    out.seq = (out.seq << 8) | static_cast<unsigned char>(key[i]);
  return out;
}

std::string printable_key(std::string_view family, std::string_view key) {
  if (family == "steps") {
    if (auto k = parse_step_key(key)) return k->run_id + "#" + std::to_string(k->seq);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

}  // namespace troupe::memory
