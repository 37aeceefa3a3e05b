// llama2.c's tokenizer.bin as an SPM tokenizer. The file format and the
// mapping to GGUF's token types live in llama2c.cpp (shared with
// `troupe convert llama2c`); this adds llama2.c's encoder settings: a BOS
// of 1, an EOS of 2, the dummy prefix space, byte fallback.
#include "engine/local/llama2c.hpp"
#include "engine/local/tokenizer.hpp"

namespace troupe::engine::local {

Result<Tokenizer> Tokenizer::from_llama2c(const std::string& path, int vocab_size) {
  auto spm = read_llama2c_tokenizer(path, vocab_size);
  if (!spm.ok()) return spm.error();
  VocabData v;
  v.model = "llama";
  v.tokens = std::move(spm->tokens);
  v.scores = std::move(spm->scores);
  v.token_types = std::move(spm->types);
  v.unk = spm->unk_id;
  v.bos = spm->bos_id;
  v.eos = spm->eos_id;
  v.add_bos = true;
  v.add_space_prefix = true;
  auto tok = from_vocab(std::move(v));
  if (!tok.ok()) return tok.error().with_context(path);
  return tok;
}

}  // namespace troupe::engine::local
