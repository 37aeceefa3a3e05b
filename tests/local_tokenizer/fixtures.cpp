#include "local_tokenizer/fixtures.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "engine/local/gguf.hpp"
#include "engine/local/vocab.hpp"
#include "support/temp_dir.hpp"

namespace troupe::testing {

using engine::local::GgufFile;
using engine::local::Tokenizer;

std::string shared_path(const std::string& relative) { return std::string(TROUPE_SHARED_DIR) + "/" + relative; }

bool shared_exists(const std::string& relative) { return std::filesystem::exists(shared_path(relative)); }

namespace {

std::unique_ptr<Tokenizer> from_gguf_path(const std::string& path) {
  auto file = GgufFile::open(path);
  if (!file.ok()) FAIL(file.error().describe());
  auto tok = Tokenizer::from_gguf(*file);
  if (!tok.ok()) FAIL(tok.error().describe());
  return std::make_unique<Tokenizer>(std::move(tok).value());
}

}  // namespace

const Tokenizer* llama_spm_tokenizer() {
  static const std::unique_ptr<Tokenizer> tok = [] {
    const std::string rel = "data/tokenizers/ggml-vocab-llama-spm.gguf";
    return shared_exists(rel) ? from_gguf_path(shared_path(rel)) : nullptr;
  }();
  return tok.get();
}

const Tokenizer* gpt2_tokenizer() {
  static const std::unique_ptr<Tokenizer> tok = [] {
    const std::string rel = "data/tokenizers/ggml-vocab-gpt-2.gguf";
    return shared_exists(rel) ? from_gguf_path(shared_path(rel)) : nullptr;
  }();
  return tok.get();
}

const Tokenizer* qwen2_tokenizer() {
  static const std::unique_ptr<Tokenizer> tok = []() -> std::unique_ptr<Tokenizer> {
    const std::string json = "data/tokenizers/qwen3-tokenizer.json";
    const std::string config = "data/tokenizers/qwen3-tokenizer_config.json";
    if (!shared_exists(json) || !shared_exists(config)) return nullptr;
    TempDir dir;
    const std::string out = dir.file("qwen2-vocab.gguf");
    auto written = engine::local::write_vocab_gguf_from_hf_tokenizer_json(shared_path(json), shared_path(config), out);
    if (!written.ok()) FAIL(written.error().describe());
    return from_gguf_path(out);  // the tokenizer copies what it needs from the file
  }();
  return tok.get();
}

const Tokenizer* llama2c_tokenizer() {
  static const std::unique_ptr<Tokenizer> tok = []() -> std::unique_ptr<Tokenizer> {
    const std::string rel = "models/stories260K/tok512.bin";
    if (!shared_exists(rel)) return nullptr;
    auto t = Tokenizer::from_llama2c(shared_path(rel), 512);
    if (!t.ok()) FAIL(t.error().describe());
    return std::make_unique<Tokenizer>(std::move(t).value());
  }();
  return tok.get();
}

std::vector<VocabCase> read_vocab_cases(const std::string& inp_path, const std::string& out_path) {
  const std::string inp = read_file(inp_path);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<VocabCase> cases;
  for (size_t pos = 0; pos < inp.size();) {
    const size_t end = inp.find(sep, pos);
    if (end == std::string::npos) break;
    cases.push_back({inp.substr(pos, end - pos), {}});
    pos = end + sep.size();
  }
  std::istringstream out(read_file(out_path));
  std::string line;
  for (size_t i = 0; std::getline(out, line); ++i) {
    if (i >= cases.size()) FAIL(out_path << " has more lines than " << inp_path << " has cases");
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) cases[i].ids.push_back(id);
  }
  return cases;
}

}  // namespace troupe::testing
