// VocabData <-> GGUF `tokenizer.ggml.*` metadata.
#include <spdlog/spdlog.h>

#include "engine/local/gguf.hpp"
#include "engine/local/vocab.hpp"

namespace troupe::engine::local {

namespace {

// A special token id key: absent stays -1. llama.cpp's converters write
// 0xFFFFFFFF (or any id past the vocabulary) to mean "none"; like
// llama.cpp, such an id is treated as absent and logged as a warning
// rather than refusing the file. A value that is not an integer is an
// error naming the key.
Status read_id(const GgufFile& f, const char* key, const char* when_absent, size_t n_tokens, int32_t& out) {
  const GgufValue* v = f.find(key);
  if (!v) return {};
  if (!v->is_integer())
    return Error(ErrorCode::parse, f.path() + ": key " + key + ": expected an integer token id, got " + v->describe());
  if (v->is_negative() || v->as_uint() >= n_tokens) {
    spdlog::warn("{}: key {} = {} is outside the vocabulary of {} tokens; treating it as absent ({})", f.path(), key,
                 v->is_negative() ? std::to_string(v->as_int()) : std::to_string(v->as_uint()), n_tokens,
                 when_absent);
    return {};
  }
  out = static_cast<int32_t>(v->as_uint());
  return {};
}

}  // namespace

Result<VocabData> vocab_from_gguf(const GgufFile& f) {
  VocabData v;
  auto model = f.get_string("tokenizer.ggml.model");
  if (!model.ok()) return model.error();
  v.model = *model;
  auto pre = f.get_string_or("tokenizer.ggml.pre", "");
  if (!pre.ok()) return pre.error();
  v.pre = *pre;

  auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  if (!tokens.ok()) return tokens.error();
  v.tokens.assign(tokens->begin(), tokens->end());
  const size_t n = v.tokens.size();
  const auto check_len = [&](const char* key, size_t len) -> Status {
    if (len == n) return {};
    return Error(ErrorCode::parse, f.path() + ": key " + key + ": " + std::to_string(len) +
                                       " entries for " + std::to_string(n) + " tokens");
  };
  if (f.has("tokenizer.ggml.scores")) {
    auto scores = f.get_f32_array("tokenizer.ggml.scores");
    if (!scores.ok()) return scores.error();
    v.scores = std::move(scores).value();
    if (auto st = check_len("tokenizer.ggml.scores", v.scores.size()); !st) return st.error();
  }
  if (f.has("tokenizer.ggml.token_type")) {
    auto types = f.get_i32_array("tokenizer.ggml.token_type");
    if (!types.ok()) return types.error();
    v.token_types = std::move(types).value();
    if (auto st = check_len("tokenizer.ggml.token_type", v.token_types.size()); !st) return st.error();
  }
  if (f.has("tokenizer.ggml.merges")) {
    auto merges = f.get_string_array("tokenizer.ggml.merges");
    if (!merges.ok()) return merges.error();
    v.merges.assign(merges->begin(), merges->end());
  }
  struct IdKey {
    const char* key;
    int32_t* dst;
    const char* when_absent;  // for the warning
  };
  for (const IdKey& k : {IdKey{"tokenizer.ggml.bos_token_id", &v.bos, "no BOS token is prepended"},
                         IdKey{"tokenizer.ggml.eos_token_id", &v.eos,
                               "generation ends at end-of-turn tokens, stop strings or limits"},
                         IdKey{"tokenizer.ggml.unknown_token_id", &v.unk, "unknown text falls back to byte tokens"},
                         IdKey{"tokenizer.ggml.padding_token_id", &v.pad, "no padding token"},
                         IdKey{"tokenizer.ggml.seperator_token_id", &v.sep, "no separator token"},  // sic
                         IdKey{"tokenizer.ggml.eot_token_id", &v.eot, "no end-of-turn token"}}) {
    if (auto st = read_id(f, k.key, k.when_absent, n, *k.dst); !st) return st.error();
  }
  const bool spm = v.model == "llama";
  auto add_bos = f.get_bool_or("tokenizer.ggml.add_bos_token", spm);
  if (!add_bos.ok()) return add_bos.error();
  v.add_bos = *add_bos;
  auto add_space = f.get_bool_or("tokenizer.ggml.add_space_prefix", spm);
  if (!add_space.ok()) return add_space.error();
  v.add_space_prefix = *add_space;
  auto tmpl = f.get_string_or("tokenizer.chat_template", "");
  if (!tmpl.ok()) return tmpl.error();
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
  if (v.sep >= 0) out.set_u32("tokenizer.ggml.seperator_token_id", static_cast<uint32_t>(v.sep));
  if (v.eot >= 0) out.set_u32("tokenizer.ggml.eot_token_id", static_cast<uint32_t>(v.eot));
  out.set_bool("tokenizer.ggml.add_bos_token", v.add_bos);
  out.set_bool("tokenizer.ggml.add_space_prefix", v.add_space_prefix);
  if (!v.chat_template.empty()) out.set_string("tokenizer.chat_template", v.chat_template);
}

}  // namespace troupe::engine::local
