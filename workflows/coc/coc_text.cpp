#include "workflows/coc/coc_text.hpp"
#include "common/hash.hpp"

#include <simdjson.h>

#include <cctype>

#include "scoring/verdict.hpp"

namespace troupe::workflows::coc {
namespace {

bool word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}
bool space_byte(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool continuation_byte(unsigned char c) { return (c & 0xC0) == 0x80; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace

std::vector<std::pair<size_t, size_t>> word_pieces(std::string_view text) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t i = 0, n = text.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (space_byte(c)) {
      ++i;
      continue;
    }
    if (!word_byte(c)) {
      out.emplace_back(i, i + 1);
      ++i;
      continue;
    }
    size_t j = i;
    while (j < n && word_byte(static_cast<unsigned char>(text[j])) &&
           (j - i < kPieceBytes || continuation_byte(static_cast<unsigned char>(text[j]))))
      ++j;
    out.emplace_back(i, j);
    i = j;
  }
  return out;
}

std::vector<std::string> split_chunks(std::string_view text, int chunk_tokens) {
  size_t per = chunk_tokens < 1 ? 1 : static_cast<size_t>(chunk_tokens);
  auto pieces = word_pieces(text);
  // A piece continues a word when it starts where a word piece ended.
  auto continues = [&](size_t i) {
    return i > 0 && pieces[i].first == pieces[i - 1].second &&
           word_byte(static_cast<unsigned char>(text[pieces[i].first])) &&
           word_byte(static_cast<unsigned char>(text[pieces[i - 1].first]));
  };
  std::vector<std::string> out;
  size_t k = 0;
  while (k < pieces.size()) {
    size_t end = std::min(pieces.size(), k + per);  // one past the chunk's last piece
    // Do not cut a long word in two: end the chunk before the word, unless
    // the word alone is longer than a chunk.
    size_t cut = end;
    while (cut < pieces.size() && cut > k && continues(cut)) --cut;
    if (cut > k) end = cut;
    out.emplace_back(text.substr(pieces[k].first, pieces[end - 1].second - pieces[k].first));
    k = end;
  }
  return out;
}

std::string mark_context(const std::vector<std::string>& chunks) {
  std::string out;
  for (size_t i = 0; i < chunks.size(); ++i) {
    std::string id = std::to_string(i);
    if (i) out += "\n";
    out += "<para " + id + "> " + chunks[i] + " </para " + id + ">";
  }
  return out;
}

bool relevant(std::string_view reply) {
  std::string text = lower(reply);
  size_t at = text.rfind("answer:");
  std::string_view tail(text);
  if (at != std::string::npos) tail = tail.substr(at + 7);
  for (size_t p = tail.find("no"); p != std::string_view::npos; p = tail.find("no", p + 1)) {
    bool left = p == 0 || !word_byte(static_cast<unsigned char>(tail[p - 1]));
    bool right = p + 2 >= tail.size() || !word_byte(static_cast<unsigned char>(tail[p + 2]));
    if (left && right) return false;
  }
  return true;
}

std::string pointback(const std::vector<size_t>& kept) {
  if (kept.empty()) return kNoContext;
  std::string out = std::string(kPointbackLead) + "\n";
  for (size_t k = 0; k < kept.size(); ++k) out += (k ? " " : "") + std::string("<para ") + std::to_string(kept[k]) + ">";
  return out;
}

std::string retrieved_text(const std::vector<std::string>& chunks, const std::vector<size_t>& kept) {
  if (kept.empty()) return kNoContext;
  std::string out;
  for (size_t k = 0; k < kept.size(); ++k) out += (k ? "...\n\n..." : "") + chunks.at(kept[k]);
  return out;
}

namespace {

// The last `answer`, an optional quote, spaces, `:` or `=`, spaces, an
// optional quote, spaces, then yes or no as a whole word (case ignored): 1,
// 0, or -1 when there is none. A scan rather than std::regex, whose matcher
// recurses once per character and overflows the stack on a long run of
// spaces in model output.
int loose_answer(std::string_view text) {
  const std::string low = lower(text);
  auto quote = [](char c) { return c == '"' || c == '\''; };
  auto regex_word = [](unsigned char c) { return (c < 0x80 && std::isalnum(c)) || c == '_'; };
  int found = -1;
  for (size_t at = low.find("answer"); at != std::string::npos; at = low.find("answer", at + 1)) {
    size_t i = at + 6;
    auto skip_spaces = [&] {
      while (i < low.size() && space_byte(static_cast<unsigned char>(low[i]))) ++i;
    };
    if (i < low.size() && quote(low[i])) ++i;
    skip_spaces();
    if (i >= low.size() || (low[i] != ':' && low[i] != '=')) continue;
    ++i;
    skip_spaces();
    if (i < low.size() && quote(low[i])) ++i;
    skip_spaces();
    size_t len = low.compare(i, 3, "yes") == 0 ? 3 : low.compare(i, 2, "no") == 0 ? 2 : 0;
    if (len == 0) continue;
    const size_t end = i + len;
    if (end < low.size() && regex_word(static_cast<unsigned char>(low[end]))) continue;
    found = len == 3 ? 1 : 0;
    at = end - 1;  // the next search starts after this match
  }
  return found;
}

}  // namespace

int parse_self_check(std::string_view text) {
  auto word = [](std::string s) -> int {
    s = lower(trim(s));
    while (!s.empty() && !word_byte(static_cast<unsigned char>(s.front()))) s.erase(s.begin());
    if (s.rfind("yes", 0) == 0) return 1;
    if (s.rfind("no", 0) == 0) return 0;
    return -1;
  };
  size_t open = text.find('{'), close = text.rfind('}');
  if (open != std::string_view::npos && close != std::string_view::npos && close > open) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    std::string body(text.substr(open, close - open + 1));
    if (!parser.parse(body).get(doc) && doc.is_object()) {
      std::string_view answer;
      if (!doc["answer"].get_string().get(answer)) {
        int v = word(std::string(answer));
        if (v >= 0) return v;
      }
    }
  }
  if (int found = loose_answer(text); found >= 0) return found;
  switch (scoring::parse_verdict(text)) {
    case scoring::Verdict::yes: return 1;
    case scoring::Verdict::no: return 0;
    default: return -1;
  }
}

const std::vector<std::string>& system_prompts() {
  static const std::vector<std::string> pool = {
      "You are an assistant that reasons carefully over long documents. Keep track of the whole context, "
      "point to the passages you rely on, and answer precisely.",
      "You help people understand long texts. Read closely, connect related passages, and ground every "
      "claim in the text you were given.",
      "You are a careful reader of long contexts. Break hard questions into smaller ones, find the passages "
      "that matter, and give clear, concise answers.",
      "As a long-context reasoning assistant, you work through documents step by step, cite the relevant "
      "parts, and say so when the text does not settle a question.",
      "You specialise in question answering over long documents: locate the evidence, reason from it, and "
      "keep your answers short and accurate.",
  };
  return pool;
}

const std::vector<std::string>& clarify_prompts() {
  static const std::vector<std::string> pool = {
      "Review what you know about \"{question}\" and pose one new question whose answer would help you answer it.",
      "To answer \"{question}\" well, what is one thing you still need to find out? Ask it as a single question.",
      "Think about \"{question}\". Ask one clarifying question about the text that would bring you closer to the answer.",
      "Before answering \"{question}\", write one question about the context that you would like answered first.",
      "In order to answer this question \"{question}\", ask one question about what you want to know in order to "
      "better answer it.",
  };
  return pool;
}

const std::vector<std::string>& termination_prompts() {
  static const std::vector<std::string> pool = {
      "Have you answered the question correctly? Reply with JSON only: {\"explanations\": \"...\", \"answer\": "
      "\"Yes\" or \"No\"}.",
      "Check your last answer against the context. Is it correct and complete? Respond in JSON with the keys "
      "\"explanations\" (a string) and \"answer\" (\"Yes\" or \"No\").",
      "Is your final answer right? Give your reasoning and verdict as JSON: {\"explanations\": string, "
      "\"answer\": \"Yes\"|\"No\"}.",
      "Decide whether you can stop: does your answer fully and correctly address the question? Output JSON "
      "with fields \"explanations\" and \"answer\" (Yes or No).",
      "Verify your answer. Return a JSON object {\"explanations\": your reasoning, \"answer\": \"Yes\" if it is "
      "correct, otherwise \"No\"}.",
  };
  return pool;
}

const char* const kRelevanceTemplate =
    "Question: {question}\n\nContext: {chunk}\n\nDoes the given piece of context help answer the question in any "
    "way? Follow the format: [reasoning] + Answer: (yes/maybe/no). Be concise.";

const char* const kJudgeTemplate =
    "Question: '{question}'. Ground truth: '{gold}'. Prediction: '{prediction}'. The prediction may be longer; it is "
    "correct when it has the same meaning as the ground truth. Does the prediction answer the question correctly? "
    "End with 'Verdict: Yes' or 'Verdict: No'.";

uint64_t item_seed(int64_t seed, const std::string& item_id) {
  return hash::fnv1a64(item_id, hash::fnv1a64_u64(static_cast<uint64_t>(seed)));
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && space_byte(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && space_byte(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

}  // namespace troupe::workflows::coc
