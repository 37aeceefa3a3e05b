// troupe mkmodel (random-weight GGUF models) and troupe convert llama2c
// (llama2.c checkpoint + tokenizer -> GGUF with llama.cpp's names).
#include <cstdio>
#include <map>
#include <memory>

#include "cli/commands.hpp"
#include "engine/local/model_convert.hpp"
#include "engine/local/model_loader.hpp"
#include "engine/local/model_random.hpp"

namespace troupe::cli {
namespace {

using engine::local::Arch;
using engine::local::TensorType;

const std::map<std::string, Arch> kArchs = {{"llama", Arch::llama}, {"qwen2", Arch::qwen2}};
const std::map<std::string, TensorType> kTypes = {
    {"f32", TensorType::f32}, {"f16", TensorType::f16}, {"bf16", TensorType::bf16},
    {"q8_0", TensorType::q8_0}, {"q4_0", TensorType::q4_0}};

struct MkmodelArgs {
  engine::local::RandomModelOptions o;
  std::string arch = "llama";
  std::string type = "f32";
  bool tied = false, untied = false;
  std::string out;
};

struct ConvertArgs {
  std::string model, tokenizer, out;
  std::string arch = "llama";
  std::string type = "f32";
};

}  // namespace

void add_mkmodel_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<MkmodelArgs>();
  CLI::App* cmd = app.add_subcommand("mkmodel", "Write a random-weight model (GGUF) of any shape, for tests and benchmarks");
  cmd->add_option("--arch", a->arch, "Architecture: llama or qwen2")->capture_default_str()->check(CLI::IsMember({"llama", "qwen2"}));
  cmd->add_option("--dim", a->o.dim, "Embedding width")->required();
  cmd->add_option("--layers", a->o.n_layers, "Transformer blocks")->required();
  cmd->add_option("--heads", a->o.n_heads, "Query heads")->required();
  cmd->add_option("--kv-heads", a->o.n_kv_heads, "Key/value heads (grouped-query attention)")->required();
  cmd->add_option("--ffn", a->o.ffn_dim, "SwiGLU hidden width")->required();
  cmd->add_option("--vocab", a->o.vocab_size, "Vocabulary size (>= 261)")->required();
  cmd->add_option("--context", a->o.context_length, "Context length")->capture_default_str();
  cmd->add_option("--type", a->type, "Weight type: f32, f16, bf16, q8_0 or q4_0")->capture_default_str()
      ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0", "q4_0"}));
  cmd->add_option("--seed", a->o.seed, "Random seed (same seed, same file)")->required();
  cmd->add_flag("--tied", a->tied, "Tie the output projection to the token embedding (default for qwen2)");
  cmd->add_flag("--untied", a->untied, "Write a separate output.weight (default for llama)");
  cmd->add_flag("!--no-chat-template", a->o.chat_template,
                "Leave out tokenizer.chat_template (to test a model without one)");
  cmd->add_option("-o,--output", a->out, "Output .gguf path")->required();
  cmd->callback([a, &action] {
    action = [a] {
      a->o.arch = kArchs.at(a->arch);
      a->o.type = kTypes.at(a->type);
      if (a->tied && a->untied) {
        print_error("mkmodel: --tied and --untied exclude each other");
        return 2;
      }
      if (a->tied) a->o.tied = true;
      if (a->untied) a->o.tied = false;
      if (auto st = engine::local::validate(a->o); !st) {
        print_error("mkmodel: " + st.error().message);
        return 2;
      }
      if (auto st = engine::local::write_random_model(a->o, a->out); !st) {
        print_error(st.error().message);
        return 1;
      }
      std::printf("wrote %s (%s, dim %d, %d layers, %d/%d heads, ffn %d, vocab %d, %s)\n", a->out.c_str(),
                  a->arch.c_str(), a->o.dim, a->o.n_layers, a->o.n_heads, a->o.n_kv_heads, a->o.ffn_dim,
                  a->o.vocab_size, a->type.c_str());
      return 0;
    };
  });
}

void add_convert_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("convert", "Convert other model formats to GGUF");
  cmd->require_subcommand(1);
  auto a = std::make_shared<ConvertArgs>();
  CLI::App* l2c = cmd->add_subcommand("llama2c", "llama2.c checkpoint + tokenizer -> GGUF (llama.cpp's key and tensor names)");
  l2c->add_option("model", a->model, "llama2.c checkpoint (model.bin)")->required();
  l2c->add_option("tokenizer", a->tokenizer, "llama2.c tokenizer (tokenizer.bin)")->required();
  l2c->add_option("-o,--output", a->out, "Output .gguf path")->required();
  l2c->add_option("--arch", a->arch,
                  "llama (Q/K rows as stored) or qwen2 (Q/K rows permuted to NEOX order, zero q/k/v biases)")
      ->capture_default_str()->check(CLI::IsMember({"llama", "qwen2"}));
  l2c->add_option("--type", a->type, "Weight type: f32, f16, bf16, q8_0 or q4_0")->capture_default_str()
      ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0", "q4_0"}));
  l2c->callback([a, &action] {
    action = [a] {
      engine::local::GgufModelOptions o;
      o.arch = kArchs.at(a->arch);
      o.type = kTypes.at(a->type);
      o.name = "llama2c";
      if (auto st = engine::local::convert_llama2c(a->model, a->tokenizer, a->out, o); !st) {
        print_error(st.error().message);
        return 1;
      }
      std::printf("wrote %s (%s, %s)\n", a->out.c_str(), a->arch.c_str(), a->type.c_str());
      return 0;
    };
  });
}

}  // namespace troupe::cli
