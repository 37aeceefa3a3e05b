// troupe bench MODEL.gguf: prompt-processing and decode tokens/s of the
// local CPU engine, in a table shaped like llama-bench's (docs/bench.md).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/local_engine_flags.hpp"
#include "common/json_writer.hpp"
#include "engine/local/model_loader.hpp"
#include "engine/local/speed_bench.hpp"

namespace troupe::cli {
namespace {

using namespace engine::local;

struct BenchArgs {
  std::string model;
  std::vector<int> prompt{512};
  std::vector<int> gen{128};
  std::vector<int> threads{1, 2};
  std::vector<int> samples;
  int reps = 5;
  int samples_prompt = 512;
  int samples_gen = 32;
  std::string output = "md";
  std::string kv_type = "f32";
};

struct Row {
  SpeedResult r;
  double copy_bw = 0;  // bytes/s with r.threads threads
};

std::string params_label(int64_t n) {
  char buf[32];
  if (n >= 1000000000) std::snprintf(buf, sizeof buf, "%.2f B", n / 1e9);
  else std::snprintf(buf, sizeof buf, "%.2f M", n / 1e6);
  return buf;
}

std::string size_label(size_t bytes) {
  char buf[32];
  if (bytes >= (size_t{1} << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / 1073741824.0);
  else std::snprintf(buf, sizeof buf, "%.2f MiB", bytes / 1048576.0);
  return buf;
}

// "llama 134M F16": architecture, parameters rounded as llama.cpp names
// model sizes, the weight type of the layer matrices.
std::string model_label(const ModelWeights& w) {
  const double p = static_cast<double>(model_parameters(w));
  char buf[32];
  if (p >= 1e9) std::snprintf(buf, sizeof buf, "%.1fB", p / 1e9);
  else std::snprintf(buf, sizeof buf, "%.0fM", p / 1e6);
  return std::string(to_string(w.config.arch)) + " " + buf + " " + model_weight_type(w);
}

// Fraction of the copy-bandwidth roofline a decode test reaches: weight bytes
// read per second (a decode step reads every weight once, for all samples)
// over the measured copy bandwidth. 0 for prompt tests.
double roofline_fraction(const Row& row, size_t weight_bytes) {
  const SpeedTest& t = row.r.test;
  if (t.n_gen == 0 || row.copy_bw <= 0) return 0;
  const double steps_per_s = row.r.median / (t.n_samples > 0 ? t.n_samples : 1);
  return steps_per_s * static_cast<double>(weight_bytes) / row.copy_bw;
}

int do_bench(const BenchArgs& a) {
  auto parsed_kv = parse_kv_type(a.kv_type);  // checked by --kv-type's validator
  if (!parsed_kv.ok()) {
    print_error("bench: --kv-type: " + parsed_kv.error().message);
    return 2;
  }
  const KvType kv = *parsed_kv;
  auto weights = load_model(a.model);
  if (!weights.ok()) {
    print_error(a.model + ": " + weights.error().message);
    return 1;
  }
  const ModelWeights& w = weights.value();
  std::vector<SpeedTest> tests;
  for (int p : a.prompt)
    if (p > 0) tests.push_back({p, 0, 0});
  for (int g : a.gen)
    if (g > 0) tests.push_back({0, g, 0});
  for (int s : a.samples) tests.push_back({a.samples_prompt, a.samples_gen, s});
  if (tests.empty()) {
    print_error("bench: no tests (every -p and -n is 0)");
    return 2;
  }
  const size_t per_token = weight_bytes_per_token(w);
  std::vector<Row> rows;
  for (int t : a.threads) {
    auto bench = SpeedBench::create(w, t, kv);
    if (!bench.ok()) {
      print_error(a.model + ": " + bench.error().message);
      return 1;
    }
    for (const SpeedTest& test : tests) {
      auto r = (*bench)->measure(test, a.reps);
      if (!r.ok()) {
        print_error(a.model + ": " + r.error().message);
        return 1;
      }
      rows.push_back({std::move(r.value()), 0.0});
      if (a.output == "md") std::fprintf(stderr, "troupe bench: %s %dt done\n", test.name().c_str(), t);
    }
  }
  // Peak RSS before the bandwidth test's 256 MiB of arrays; then the copy
  // bandwidth once per thread count.
  const size_t rss = peak_rss_bytes();
  for (int t : a.threads) {
    const double bw = measure_copy_bandwidth(t, 3);
    for (Row& row : rows)
      if (row.r.threads == t) row.copy_bw = bw;
  }
  const std::string model = model_label(w);
  const std::string size = size_label(model_bytes(w)), params = params_label(model_parameters(w));
  const size_t kv_bytes = kv_bytes_per_token(w.config, kv);
  const std::string backend = "CPU";

  if (a.output == "json") {
    std::string out;
    JsonWriter j(out);
    j.begin_array();
    for (const Row& row : rows) {
      j.begin_object()
          .field("model_filename", a.model)
          .field("model_type", model)
          .field("model_size", static_cast<unsigned long long>(model_bytes(w)))
          .field("model_n_params", static_cast<long long>(model_parameters(w)))
          .field("backends", backend)
          .field("n_threads", row.r.threads)
          .field("type_kv", to_string(kv))
          .field("test", row.r.test.name())
          .field("n_prompt", row.r.test.n_prompt)
          .field("n_gen", row.r.test.n_gen)
          .field("n_samples", row.r.test.n_samples)
          .field("median_ts", row.r.median)
          .field("avg_ts", row.r.mean)
          .field("stddev_ts", row.r.stddev);
      j.key("samples_ts").begin_array();
      for (double v : row.r.tokens_per_s) j.value(v);
      j.end_array();
      j.field("copy_bandwidth_bytes_per_s", row.copy_bw)
          .field("weight_bytes_per_step", static_cast<unsigned long long>(per_token))
          .field("roofline_fraction", roofline_fraction(row, per_token))
          .field("kv_bytes_per_token", static_cast<unsigned long long>(kv_bytes))
          .field("peak_rss_bytes", static_cast<unsigned long long>(rss))
          .end_object();
    }
    j.end_array();
    std::printf("%s\n", out.c_str());
    return 0;
  }
  if (a.output == "csv") {
    std::printf("model_filename,model_type,model_size,model_n_params,backends,n_threads,type_kv,test,n_prompt,n_gen,"
                "n_samples,median_ts,avg_ts,stddev_ts,copy_bandwidth_bytes_per_s,weight_bytes_per_step,"
                "roofline_fraction,kv_bytes_per_token,peak_rss_bytes\n");
    for (const Row& row : rows)
      std::printf("\"%s\",\"%s\",%zu,%lld,%s,%d,%s,%s,%d,%d,%d,%.3f,%.3f,%.3f,%.0f,%zu,%.4f,%zu,%zu\n",
                  a.model.c_str(), model.c_str(), model_bytes(w), static_cast<long long>(model_parameters(w)),
                  backend.c_str(), row.r.threads, to_string(kv), row.r.test.name().c_str(), row.r.test.n_prompt,
                  row.r.test.n_gen, row.r.test.n_samples, row.r.median, row.r.mean, row.r.stddev, row.copy_bw,
                  per_token, roofline_fraction(row, per_token), kv_bytes, rss);
    return 0;
  }
  // Markdown, llama-bench's columns (t/s is the median ± the stddev here).
  const bool kv_col = kv != KvType::f32;
  std::printf("| model | size | params | backend | threads |%s test | t/s |\n", kv_col ? " type_kv |" : "");
  std::printf("| --- | ---: | ---: | --- | ---: |%s ---: | ---: |\n", kv_col ? " --- |" : "");
  for (const Row& row : rows)
    std::printf("| %s | %s | %s | %s | %d |%s %s | %.2f ± %.2f |\n", model.c_str(), size.c_str(), params.c_str(),
                backend.c_str(), row.r.threads, kv_col ? (std::string(" ") + to_string(kv) + " |").c_str() : "",
                row.r.test.name().c_str(), row.r.median, row.r.stddev);
  std::printf("\nt/s: median ± sample stddev of %d repetitions after one warm-up.\n", a.reps);
  std::printf("weights read per decode step: %.1f MiB; KV cache: %zu bytes/token (%s); peak RSS: %.1f MiB\n",
              per_token / 1048576.0, kv_bytes, to_string(kv), rss / 1048576.0);
  bool header = false;
  for (const Row& row : rows) {
    if (row.r.test.n_gen == 0) continue;
    if (!header) {
      std::printf("\n| threads | test | copy GB/s | weight GB/s | of roofline |\n| ---: | --- | ---: | ---: | ---: |\n");
      header = true;
    }
    const double frac = roofline_fraction(row, per_token);
    std::printf("| %d | %s | %.2f | %.2f | %.0f%% |\n", row.r.threads, row.r.test.name().c_str(), row.copy_bw / 1e9,
                frac * row.copy_bw / 1e9, 100.0 * frac);
  }
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure prompt and decode tokens/s of the local CPU engine (llama-bench style)");
  cmd->add_option("model", a->model, "Model file (.gguf)")->required();
  cmd->add_option("-p,--n-prompt", a->prompt, "Prompt lengths (comma-separated; 0 = no prompt test)")
      ->delimiter(',')->capture_default_str()->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-n,--n-gen", a->gen, "Tokens to generate (comma-separated; 0 = no decode test)")
      ->delimiter(',')->capture_default_str()->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-t,--threads", a->threads, "Thread counts (comma-separated)")
      ->delimiter(',')->capture_default_str()->check(CLI::Range(1, 1024));
  cmd->add_option("-r,--repetitions", a->reps, "Measured repetitions per test (after one warm-up)")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--samples", a->samples,
                  "Sample counts for the shared-prompt test (comma-separated; e.g. 1,8): a --samples-prompt token "
                  "prompt, then that many samples decoding --samples-gen tokens each as one batch")
      ->delimiter(',')->check(CLI::Range(1, 4096));
  cmd->add_option("--samples-prompt", a->samples_prompt, "Shared prompt length of the samples test")
      ->capture_default_str()->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--samples-gen", a->samples_gen, "Tokens each sample decodes")
      ->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("-o,--output", a->output, "Output format: md, json or csv")
      ->capture_default_str()->check(CLI::IsMember({"md", "json", "csv"}));
  cmd->add_option("--kv-type", a->kv_type, "KV cache element type: f32, f16 or bf16")
      ->capture_default_str()->check(kv_type_validator());
  cmd->callback([a, &action] { action = [a] { return do_bench(*a); }; });
}

}  // namespace troupe::cli
