// LeaP's prompt texts (pipelines.md §2(a) steps 1, 4, 5 and 7) and the pure
// text operations on a path. The wording is troupe's own; the structure
// (instruction block with one worked summary, first-person prefill ending
// "Now, let's get back to the original problem.", 7 x 6 trigger pools, the
// comment block and the forced-answer prefix) follows the spec.
#include <array>
#include <cstring>

#include "workflows/leap/leap.hpp"
#include "common/hash.hpp"

namespace troupe::workflows {

const std::string& leap_instruction() {
  static const std::string text =
      "\n\nYou are one of several reasoners working on this problem in parallel. While you think, you "
      "will be asked from time to time to summarize your progress: write the summary between "
      "<summarize> and </summarize>, stating your current approach, the intermediate results you "
      "trust and the answer you are leaning towards, in a few sentences. After each summary you will "
      "receive the summaries of some of the other reasoners between <comment> and </comment>. Read "
      "them critically: adopt an idea that is better than yours, point out to yourself where a peer "
      "went wrong, and then keep reasoning.\n\n"
      "Example of a summary:\n"
      "<summarize> So far I have set up the equation 3x + 5 = 20 from the second sentence of the "
      "problem and solved it to get x = 5. I still have to check that x = 5 satisfies the condition "
      "on the perimeter; if it does, the answer is 5. </summarize>\n\n"
      "Please reason step by step, and put your final answer within \\boxed{}.";
  return text;
}

const std::string& leap_cot_instruction() {
  static const std::string text = "\n\nPlease reason step by step, and put your final answer within \\boxed{}.";
  return text;
}

const std::string& leap_prefill() {
  static const std::string text =
      "Okay, before I start: I am working alongside other reasoners. When I am asked to, I will sum up "
      "my progress inside <summarize> </summarize>, and I will then read my peers' summaries inside "
      "<comment> </comment> and check my own reasoning against them. Now, let's get back to the "
      "original problem.\n\n";
  return text;
}

const std::vector<std::string>& leap_recaps() {
  static const std::vector<std::string> pool = {
      "Let me pause here and quickly recap where I stand.",
      "Before going further, let me briefly sum up what I have so far.",
      "Hold on, let me take stock of my progress for a moment.",
      "Let me step back and quickly restate what I have worked out.",
      "Wait, it is a good moment to recap my reasoning so far.",
      "Let me quickly go over what I have established up to now.",
      "Before I continue, let me summarize my current progress.",
  };
  return pool;
}

const std::vector<std::string>& leap_openers() {
  static const std::vector<std::string> pool = {
      " <summarize> In short, so far I have",
      " <summarize> To sum up my progress:",
      " <summarize> Here is where I stand:",
      " <summarize> My current reasoning is that",
      " <summarize> Briefly, what I have found is that",
      " <summarize> So far, my approach has been to",
  };
  return pool;
}

const std::string& leap_reflection() {
  static const std::string text =
      "My peers have shared their progress with me. Let me check whether any of their conclusions "
      "differ from mine and, if so, which one holds up, before I continue.";
  return text;
}

const std::string& leap_no_comments() {
  static const std::string text =
      " <comment> No comments </comment>\n\nThere are no comments from peers, so I will just continue reasoning.";
  return text;
}

const std::string& leap_math_answer_prefix() {
  static const std::string text =
      "\n\nI think I have reached the final answer now.\n\n**Final Answer** \\boxed{";
  return text;
}

uint64_t leap_seed_for(int64_t seed, const std::string& item_id, int block, int path, std::string_view purpose) {
  using hash::fnv1a64, hash::splitmix64;
  uint64_t h = splitmix64(static_cast<uint64_t>(seed));
  h = splitmix64(h ^ fnv1a64(item_id));
  h = splitmix64(h ^ (static_cast<uint64_t>(static_cast<uint32_t>(block)) << 32 | static_cast<uint32_t>(path)));
  return splitmix64(h ^ fnv1a64(purpose));
}

std::string leap_trigger(uint64_t draw) {
  const auto& recaps = leap_recaps();
  const auto& openers = leap_openers();
  uint64_t r = hash::splitmix64(draw);
  return recaps[r % recaps.size()] + openers[(r / recaps.size()) % openers.size()];
}

std::string leap_cut_last_paragraph(const std::string& text) {
  size_t pos = text.rfind("\n\n");
  if (pos == std::string::npos) return text + "\n\n";
  return text.substr(0, pos + 2);
}

std::string leap_normalize_summary(std::string text, const std::string& stop_string) {
  static const std::string close = "</summarize>";
  for (size_t pos; (pos = text.find("</think>")) != std::string::npos;) text.erase(pos, 8);
  if (stop_string == close) return text + close;
  // A partial closing tag at the end is completed (longest first), else forced.
  for (size_t k = close.size(); k >= 2; --k) {
    if (text.size() >= k && text.compare(text.size() - k, k, close, 0, k) == 0) return text + close.substr(k);
  }
  return text + "... " + close;
}

namespace {
std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::strchr(" \t\r\n", s[b])) ++b;
  while (e > b && std::strchr(" \t\r\n", s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}
}  // namespace

std::string leap_last_summary(const std::string& path_text) {
  size_t open = path_text.rfind("<summarize>");
  if (open == std::string::npos) return "";
  size_t start = open + std::strlen("<summarize>");
  size_t close = path_text.find("</summarize>", start);
  std::string_view body(path_text);
  body = body.substr(start, close == std::string::npos ? std::string_view::npos : close - start);
  return trim(body);
}

std::string leap_comment_block(const std::vector<std::string>& peer_summaries) {
  if (peer_summaries.empty()) return leap_no_comments();
  std::string out = " <comment> ";
  for (size_t i = 0; i < peer_summaries.size(); ++i) {
    if (i) out += "\n";
    out += "Peer " + std::to_string(i + 1) + ": \"" + peer_summaries[i] + "\"";
  }
  out += " </comment>\n\n" + leap_reflection();
  return out;
}

}  // namespace troupe::workflows
