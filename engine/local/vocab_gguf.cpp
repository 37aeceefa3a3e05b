// VocabData <-> GGUF `tokenizer.ggml.*` metadata.
#include "engine/local/gguf.hpp"
#include "engine/local/vocab.hpp"

namespace troupe::engine::local {

namespace {

Status read_id(const GgufFile& f, const char* key, int32_t& out) {
  if (!f.has(key)) return {};
  auto v = f.get_i64(key);
  if (!v.ok()) return v.error();
  if (*v < -1 || *v > 0x7FFFFFFF) {
    return Error(ErrorCode::parse, f.path() + ": key " + key + ": " + std::to_string(*v) + " is not a token id");
  }
  out = static_cast<int32_t>(*v);
  return {};
}

Error in_file(const GgufFile& f, const Error& e) { return e.with_context(f.path()); }

}  // namespace

Result<VocabData> vocab_from_gguf(const GgufFile& f) {
  VocabData v;
  auto model = f.get_string("tokenizer.ggml.model");
  if (!model.ok()) return in_file(f, model.error());
  v.model = *model;
  auto pre = f.get_string_or("tokenizer.ggml.pre", "");
  if (!pre.ok()) return in_file(f, pre.error());
  v.pre = *pre;

  auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  if (!tokens.ok()) return in_file(f, tokens.error());
  v.tokens.assign(tokens->begin(), tokens->end());
  const size_t n = v.tokens.size();
  const auto check_len = [&](const char* key, size_t len) -> Status {
    if (len == n) return {};
    return Error(ErrorCode::parse, f.path() + ": key " + key + ": " + std::to_string(len) +
                                       " entries for " + std::to_string(n) + " tokens");
  };
  if (f.has("tokenizer.ggml.scores")) {
    auto scores = f.get_f32_array("tokenizer.ggml.scores");
    if (!scores.ok()) return in_file(f, scores.error());
    v.scores = std::move(scores).value();
    if (auto st = check_len("tokenizer.ggml.scores", v.scores.size()); !st) return st.error();
  }
  if (f.has("tokenizer.ggml.token_type")) {
    auto types = f.get_i32_array("tokenizer.ggml.token_type");
    if (!types.ok()) return in_file(f, types.error());
    v.token_types = std::move(types).value();
    if (auto st = check_len("tokenizer.ggml.token_type", v.token_types.size()); !st) return st.error();
  }
  if (f.has("tokenizer.ggml.merges")) {
    auto merges = f.get_string_array("tokenizer.ggml.merges");
    if (!merges.ok()) return in_file(f, merges.error());
    v.merges.assign(merges->begin(), merges->end());
  }
  for (auto [key, dst] : {std::pair{"tokenizer.ggml.bos_token_id", &v.bos},
                          {"tokenizer.ggml.eos_token_id", &v.eos},
                          {"tokenizer.ggml.unknown_token_id", &v.unk},
                          {"tokenizer.ggml.padding_token_id", &v.pad}}) {
    if (auto st = read_id(f, key, *dst); !st) return in_file(f, st.error());
  }
  const bool spm = v.model == "llama";
  auto add_bos = f.get_bool_or("tokenizer.ggml.add_bos_token", spm);
  if (!add_bos.ok()) return in_file(f, add_bos.error());
  v.add_bos = *add_bos;
  auto add_space = f.get_bool_or("tokenizer.ggml.add_space_prefix", spm);
  if (!add_space.ok()) return in_file(f, add_space.error());
  v.add_space_prefix = *add_space;
  auto tmpl = f.get_string_or("tokenizer.chat_template", "");
  if (!tmpl.ok()) return in_file(f, tmpl.error());
  v.chat_template = *tmpl;
  return v;
}

void write_vocab_to_gguf(const VocabData& v, GgufWriter& out) {
  out.set_string("tokenizer.ggml.model", v.model);
  if (!v.pre.empty()) out.set_string("tokenizer.ggml.pre", v.pre);
  out.set_string_array("tokenizer.ggml.tokens", v.tokens);
  if (!v.scores.empty()) out.set_f32_array("tokenizer.ggml.scores", v.scores);
  if (!v.token_types.empty()) out.set_i32_array("tokenizer.ggml.token_type", v.token_types);
  if (!v.merges.empty()) out.set_string_array("tokenizer.ggml.merges", v.merges);
  if (v.bos >= 0) out.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos));
  if (v.eos >= 0) out.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos));
  if (v.unk >= 0) out.set_u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(v.unk));
  if (v.pad >= 0) out.set_u32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(v.pad));
  out.set_bool("tokenizer.ggml.add_bos_token", v.add_bos);
  out.set_bool("tokenizer.ggml.add_space_prefix", v.add_space_prefix);
  if (!v.chat_template.empty()) out.set_string("tokenizer.chat_template", v.chat_template);
}

}  // namespace troupe::engine::local
