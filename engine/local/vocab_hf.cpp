// Hugging Face tokenizer.json (+ tokenizer_config.json) -> VocabData, and a
// vocabulary-only GGUF written from it (what llama.cpp's converter writes
// for a byte-level BPE model such as Qwen2).
#include <algorithm>
#include <fstream>
#include <sstream>

#include "engine/json_read.hpp"
#include "engine/local/gguf.hpp"
#include "engine/local/vocab.hpp"

namespace troupe::engine::local {

namespace {

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(ErrorCode::io, path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Error(ErrorCode::io, path + ": read error");
  return ss.str();
}

// The `tokenizer.ggml.pre` name for the split regex of a tokenizer.json.
Result<std::string> pre_from_pretokenizer(json::Element pre_tokenizer, const std::string& path) {
  const std::string text = simdjson::minify(pre_tokenizer);
  // As it appears in minified JSON: backslashes escaped.
  if (text.find(R"(\\p{N}{1,3})") != std::string::npos) return std::string("llama-bpe");
  if (text.find(R"([^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|)") != std::string::npos) return std::string("qwen2");
  if (text.find(R"('s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S))") !=
          std::string::npos ||
      text == R"({"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true})") {
    return std::string("gpt-2");
  }
  return Error(ErrorCode::unsupported, path + ": pre_tokenizer is none of the known ones (GPT-2, Llama 3, Qwen2): " +
                                           text.substr(0, 200));
}

// A special-token entry of tokenizer_config.json: a string, {"content": ...} or null.
std::optional<std::string> token_name(json::Object config, std::string_view key) {
  auto e = json::field(config, key);
  if (!e) return std::nullopt;
  std::string_view s;
  if (e->get_string().get(s) == simdjson::SUCCESS) return std::string(s);
  json::Object o;
  if (e->get_object().get(o) == simdjson::SUCCESS) {
    if (auto c = json::field(o, "content"); c && c->get_string().get(s) == simdjson::SUCCESS) return std::string(s);
  }
  return std::nullopt;
}

Status read_config(const std::string& path, VocabData& v) {
  auto text = read_text(path);
  if (!text.ok()) return text.error();
  simdjson::dom::parser parser;
  auto root = json::parse(parser, *text, path);
  if (!root.ok()) return root.error();
  auto config = json::as_object(*root, path);
  if (!config.ok()) return config.error();

  const auto id_of = [&](std::string_view key, int32_t& dst) -> Status {
    auto name = token_name(*config, key);
    if (!name) return {};
    auto it = std::find(v.tokens.begin(), v.tokens.end(), *name);
    if (it == v.tokens.end()) {
      return Error(ErrorCode::parse, path + ": " + std::string(key) + " '" + *name + "' is not in the vocabulary");
    }
    dst = static_cast<int32_t>(it - v.tokens.begin());
    return {};
  };
  for (auto [key, dst] : {std::pair{"bos_token", &v.bos}, {"eos_token", &v.eos}, {"unk_token", &v.unk},
                          {"pad_token", &v.pad}}) {
    if (auto st = id_of(key, *dst); !st) return st;
  }
  if (auto e = json::field(*config, "add_bos_token")) {
    auto b = json::as_bool(*e, path + ": add_bos_token");
    if (!b.ok()) return b.error();
    v.add_bos = *b;
  }
  if (auto e = json::field(*config, "chat_template")) {
    std::string_view s;
    json::Array list;
    if (e->get_string().get(s) == simdjson::SUCCESS) {
      v.chat_template = std::string(s);
    } else if (e->get_array().get(list) == simdjson::SUCCESS) {  // [{name, template}, ...]
      for (json::Element item : list) {
        json::Object o;
        if (item.get_object().get(o) != simdjson::SUCCESS) continue;
        auto name = json::field(o, "name");
        auto tmpl = json::field(o, "template");
        std::string_view n, t;
        if (name && tmpl && name->get_string().get(n) == simdjson::SUCCESS && n == "default" &&
            tmpl->get_string().get(t) == simdjson::SUCCESS) {
          v.chat_template = std::string(t);
        }
      }
    } else {
      return Error(ErrorCode::parse, path + ": chat_template: expected a string or a list");
    }
  }
  return {};
}

}  // namespace

Result<VocabData> vocab_from_hf_tokenizer_json(const std::string& json_path, const std::string& config_path) {
  auto text = read_text(json_path);
  if (!text.ok()) return text.error();
  simdjson::dom::parser parser;
  auto root_el = json::parse(parser, *text, json_path);
  if (!root_el.ok()) return root_el.error();
  auto root = json::as_object(*root_el, json_path);
  if (!root.ok()) return root.error();

  auto model_el = json::field(*root, "model");
  if (!model_el) return Error(ErrorCode::parse, json_path + ": no 'model'");
  auto model = json::as_object(*model_el, "model");
  if (!model.ok()) return model.error().with_context(json_path);
  if (auto type = json::field(*model, "type")) {
    auto t = json::as_string(*type, "model.type");
    if (!t.ok()) return t.error().with_context(json_path);
    if (*t != "BPE") {
      return Error(ErrorCode::unsupported, json_path + ": model.type '" + std::string(*t) +
                                               "' is not supported (only byte-level BPE)");
    }
  }

  VocabData v;
  v.model = "gpt2";
  if (auto pre = json::field(*root, "pre_tokenizer")) {
    auto name = pre_from_pretokenizer(*pre, json_path);
    if (!name.ok()) return name.error();
    v.pre = *name;
  } else {
    return Error(ErrorCode::unsupported, json_path + ": no pre_tokenizer; not a byte-level BPE tokenizer");
  }

  // id -> (text, type); 0 type = absent.
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  const auto put = [&](int64_t id, std::string_view s, TokenType type, const std::string& where) -> Status {
    if (id < 0 || id > 16'000'000) return Error(ErrorCode::parse, json_path + ": " + where + ": id " + std::to_string(id) + " out of range");
    if (static_cast<size_t>(id) >= tokens.size()) {
      tokens.resize(id + 1);
      types.resize(id + 1, 0);
    }
    tokens[id] = std::string(s);
    types[id] = static_cast<int32_t>(type);
    return {};
  };

  auto vocab_el = json::field(*model, "vocab");
  if (!vocab_el) return Error(ErrorCode::parse, json_path + ": no model.vocab");
  auto vocab = json::as_object(*vocab_el, "model.vocab");
  if (!vocab.ok()) return vocab.error().with_context(json_path);
  for (auto field : *vocab) {
    int64_t id = 0;
    if (field.value.get_int64().get(id) != simdjson::SUCCESS) {
      return Error(ErrorCode::parse, json_path + ": model.vocab[\"" + std::string(field.key) + "\"]: expected an integer id");
    }
    if (auto st = put(id, field.key, TokenType::normal, "model.vocab"); !st) return st.error();
  }
  if (auto added_el = json::field(*root, "added_tokens")) {
    auto added = json::as_array(*added_el, "added_tokens");
    if (!added.ok()) return added.error().with_context(json_path);
    size_t i = 0;
    for (json::Element item : *added) {
      const std::string where = json::join("added_tokens", i++);
      auto obj = json::as_object(item, where);
      if (!obj.ok()) return obj.error().with_context(json_path);
      auto id_el = json::field(*obj, "id");
      auto content_el = json::field(*obj, "content");
      if (!id_el || !content_el) return Error(ErrorCode::parse, json_path + ": " + where + ": needs id and content");
      auto id = json::as_int(*id_el, where + ".id");
      auto content = json::as_string(*content_el, where + ".content");
      if (!id.ok()) return id.error().with_context(json_path);
      if (!content.ok()) return content.error().with_context(json_path);
      bool special = false;
      if (auto sp = json::field(*obj, "special")) {
        auto b = json::as_bool(*sp, where + ".special");
        if (!b.ok()) return b.error().with_context(json_path);
        special = *b;
      }
      if (auto st = put(*id, *content, special ? TokenType::control : TokenType::user_defined, where); !st) {
        return st.error();
      }
    }
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (types[i] == 0) {
      tokens[i] = "[PAD" + std::to_string(i) + "]";
      types[i] = static_cast<int32_t>(TokenType::unused);
    }
  }
  v.tokens = std::move(tokens);
  v.token_types = std::move(types);

  if (auto merges_el = json::field(*model, "merges")) {
    auto merges = json::as_array(*merges_el, "model.merges");
    if (!merges.ok()) return merges.error().with_context(json_path);
    v.merges.reserve(merges->size());
    size_t i = 0;
    for (json::Element m : *merges) {
      std::string_view s;
      json::Array pair;
      if (m.get_string().get(s) == simdjson::SUCCESS) {
        v.merges.emplace_back(s);
      } else if (m.get_array().get(pair) == simdjson::SUCCESS && pair.size() == 2) {
        std::string_view a, b;
        if (pair.at(0).get_string().get(a) != simdjson::SUCCESS || pair.at(1).get_string().get(b) != simdjson::SUCCESS) {
          return Error(ErrorCode::parse, json_path + ": model.merges[" + std::to_string(i) + "]: expected two strings");
        }
        std::string joined;
        joined.reserve(a.size() + b.size() + 1);
        joined.append(a).append(1, ' ').append(b);
        v.merges.push_back(std::move(joined));
      } else {
        return Error(ErrorCode::parse, json_path + ": model.merges[" + std::to_string(i) +
                                           "]: expected \"a b\" or [a, b]");
      }
      ++i;
    }
  }

  v.add_bos = false;
  v.add_space_prefix = false;
  if (!config_path.empty()) {
    if (auto st = read_config(config_path, v); !st) return st.error();
  }
  return v;
}

Result<VocabData> write_vocab_gguf_from_hf_tokenizer_json(const std::string& json_path,
                                                          const std::string& config_path,
                                                          const std::string& out_gguf) {
  auto v = vocab_from_hf_tokenizer_json(json_path, config_path);
  if (!v.ok()) return v.error();
  GgufWriter w;
  // A vocabulary-only file; the architecture is the family the
  // pre-tokenizer belongs to, as llama.cpp's vocab files record it.
  w.set_string("general.architecture", v->pre == "qwen2" ? "qwen2" : v->pre == "llama-bpe" ? "llama" : "gpt2");
  w.set_string("general.name", "vocabulary from " + json_path);
  write_vocab_to_gguf(*v, w);
  if (auto st = w.write(out_gguf); !st) return st.error();
  return v;
}

}  // namespace troupe::engine::local
