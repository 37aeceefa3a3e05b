// GgufFile / GgufWriter: round trips of every metadata and tensor type,
// the third-party llama-2-tiny-random.gguf, and bad files of every class.
#include <catch2/catch.hpp>

#include <cstring>
#include <limits>
#include <vector>

#include "engine/local/gguf.hpp"
#include "engine/local/quant.hpp"
#include "local_model/shared_files.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::engine::local;

namespace {

// A writer holding one key of every value type, nested arrays included,
// and one tensor of every tensor type.
GgufWriter everything_writer() {
  GgufWriter w;
  w.set("t.u8", GgufValue::u8(200));
  w.set("t.i8", GgufValue::i8(-100));
  w.set("t.u16", GgufValue::u16(60000));
  w.set("t.i16", GgufValue::i16(-30000));
  w.set_u32("t.u32", 4000000000u);
  w.set_i32("t.i32", -2000000000);
  w.set_u64("t.u64", 18000000000000000000ull);
  w.set("t.i64", GgufValue::i64(-9000000000000000000ll));
  w.set_f32("t.f32", 0.1f);
  w.set("t.f64", GgufValue::f64(0.1));
  w.set_bool("t.bool", true);
  w.set_string("t.string", "héllo\nworld");
  w.set_string("t.empty", "");
  w.set_string_array("t.strings", {"a", "", "<0x0A>", "\xe2\x96\x81the"});
  const std::vector<float> floats = {1.5f, -0.0f, 3e38f};
  w.set_f32_array("t.floats", floats);
  const std::vector<int32_t> ints = {1, -2, 3};
  w.set_i32_array("t.ints", ints);
  const std::vector<uint32_t> uints = {7, 4000000000u};
  w.set_u32_array("t.uints", uints);
  w.set("t.bools", GgufValue::array(GgufType::boolean, {GgufValue::boolean(true), GgufValue::boolean(false)}));
  w.set("t.f64s", GgufValue::array(GgufType::f64, {GgufValue::f64(2.5), GgufValue::f64(-1e300)}));
  w.set("t.i8s", GgufValue::array(GgufType::i8, {GgufValue::i8(-1), GgufValue::i8(127)}));
  w.set("t.u64s", GgufValue::array(GgufType::u64, {GgufValue::u64(1), GgufValue::u64(~0ull)}));
  w.set("t.nested", GgufValue::array(GgufType::array,
                                     {GgufValue::strings({"x", "y"}),
                                      GgufValue::array(GgufType::array, {GgufValue::i32s(ints)}),
                                      GgufValue::array(GgufType::u8, {})}));
  w.set("t.empty_array", GgufValue::array(GgufType::string, {}));
  std::vector<float> vals(64);
  for (size_t i = 0; i < vals.size(); ++i) vals[i] = static_cast<float>(i) * 0.125f - 4.0f;
  for (TensorType t : {TensorType::f32, TensorType::f16, TensorType::bf16, TensorType::q8_0, TensorType::q4_0})
    REQUIRE(w.add_tensor_f32(std::string("w.") + to_string(t), t, {32, 2}, vals).ok());
  REQUIRE(w.add_tensor_f32("vec", TensorType::f32, {3}, std::vector<float>{1, 2, 3}).ok());
  REQUIRE(w.add_tensor_lazy("lazy", TensorType::f32, {2, 1, 1, 2}, [](uint8_t* out) {
            const float v[4] = {9, 8, 7, 6};
            std::memcpy(out, v, sizeof v);
          }).ok());
  return w;
}

std::vector<uint8_t> tiny_file() {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 1);
  w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "a"});
  w.set("x.nested", GgufValue::array(GgufType::array, {GgufValue::strings({"p"})}));
  REQUIRE(w.add_tensor_f32("a", TensorType::f32, {2}, std::vector<float>{1, 2}).ok());
  REQUIRE(w.add_tensor_f32("b", TensorType::q8_0, {32}, std::vector<float>(32, 0.5f)).ok());
  return w.to_bytes();
}

void put_u32(std::vector<uint8_t>& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }
void put_u64(std::vector<uint8_t>& b, size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, 8); }

// Position just after `needle` (first occurrence) in `b`.
size_t after(const std::vector<uint8_t>& b, const std::string& needle) {
  for (size_t i = 0; i + needle.size() <= b.size(); ++i)
    if (std::memcmp(b.data() + i, needle.data(), needle.size()) == 0) return i + needle.size();
  FAIL("not found: " << needle);
  return 0;
}

std::string parse_error(const std::vector<uint8_t>& b) {
  auto f = GgufFile::from_memory(b.data(), b.size(), "bad.gguf");
  if (f.ok()) return "";
  return f.error().message;
}

}  // namespace

TEST_CASE("every metadata type and tensor type survives GgufWriter -> GgufFile", "[gguf]") {
  const auto bytes = everything_writer().to_bytes();
  auto r = GgufFile::from_memory(bytes.data(), bytes.size());
  REQUIRE(r.ok());
  const GgufFile& f = *r;
  CHECK(f.version() == 3);
  CHECK(f.alignment() == 32);
  CHECK(f.data_offset() % 32 == 0);

  CHECK(f.find("t.u8")->type() == GgufType::u8);
  CHECK(*f.get_u32("t.u8") == 200);
  CHECK(f.find("t.i8")->type() == GgufType::i8);
  CHECK(*f.get_i32("t.i8") == -100);
  CHECK(f.find("t.u16")->type() == GgufType::u16);
  CHECK(*f.get_u32("t.u16") == 60000);
  CHECK(*f.get_i32("t.i16") == -30000);
  CHECK(*f.get_u32("t.u32") == 4000000000u);
  CHECK(*f.get_i32("t.i32") == -2000000000);
  CHECK(*f.get_u64("t.u64") == 18000000000000000000ull);
  CHECK(*f.get_i64("t.i64") == -9000000000000000000ll);
  CHECK(*f.get_f32("t.f32") == 0.1f);
  CHECK(f.find("t.f64")->type() == GgufType::f64);
  CHECK(*f.get_f64("t.f64") == 0.1);
  CHECK(*f.get_bool("t.bool") == true);
  CHECK(*f.get_string("t.string") == "héllo\nworld");
  CHECK(*f.get_string("t.empty") == "");
  auto strings = f.get_string_array("t.strings");
  REQUIRE(strings.ok());
  CHECK(std::vector<std::string>(strings->begin(), strings->end()) ==
        std::vector<std::string>{"a", "", "<0x0A>", "\xe2\x96\x81the"});
  auto floats = f.get_f32_array("t.floats");
  REQUIRE(floats.ok());
  REQUIRE(floats->size() == 3);
  CHECK((*floats)[0] == 1.5f);
  CHECK(std::signbit((*floats)[1]));
  CHECK((*floats)[2] == 3e38f);
  CHECK(*f.get_i32_array("t.ints") == std::vector<int32_t>{1, -2, 3});
  CHECK(f.find("t.uints")->element_type() == GgufType::u32);
  CHECK(f.find("t.uints")->at(1).as_uint() == 4000000000u);
  CHECK(!f.get_i32_array("t.uints").ok());  // 4e9 does not fit in i32
  const GgufValue* bools = f.find("t.bools");
  REQUIRE(bools->size() == 2);
  CHECK(bools->at(0).as_bool());
  CHECK(!bools->at(1).as_bool());
  CHECK(f.find("t.f64s")->at(1).as_double() == -1e300);
  CHECK(*f.get_f32_array("t.f64s") == std::vector<float>{2.5f, -std::numeric_limits<float>::infinity()});
  CHECK(f.find("t.i8s")->at(0).as_int() == -1);
  CHECK(f.find("t.u64s")->at(1).as_uint() == ~0ull);
  const GgufValue* nested = f.find("t.nested");
  REQUIRE(nested->element_type() == GgufType::array);
  REQUIRE(nested->size() == 3);
  CHECK(nested->array_items()[0].string_items() == std::vector<std::string>{"x", "y"});
  const GgufValue& inner = nested->array_items()[1].array_items()[0];
  REQUIRE(inner.size() == 3);
  CHECK(inner.at(1).as_int() == -2);
  CHECK(nested->array_items()[2].size() == 0);
  CHECK(*f.get_array_size("t.empty_array") == 0);

  // Metadata keeps insertion order.
  REQUIRE(f.metadata().size() == 23);
  CHECK(f.metadata()[0].key == "t.u8");
  CHECK(f.metadata().back().key == "t.empty_array");

  // Tensors: data aligned, values as encoded.
  REQUIRE(f.tensors().size() == 7);
  std::vector<float> vals(64);
  for (size_t i = 0; i < vals.size(); ++i) vals[i] = static_cast<float>(i) * 0.125f - 4.0f;
  for (TensorType t : {TensorType::f32, TensorType::f16, TensorType::bf16, TensorType::q8_0, TensorType::q4_0}) {
    const GgufTensorInfo* ti = f.find_tensor(std::string("w.") + to_string(t));
    REQUIRE(ti != nullptr);
    CHECK(ti->type == t);
    CHECK(ti->shape == std::vector<int64_t>{32, 2});
    CHECK(ti->bytes == tensor_bytes(t, 64));
    CHECK(reinterpret_cast<uintptr_t>(ti->data) % 32 == 0);
    std::vector<uint8_t> expect(tensor_bytes(t, 64));
    quantize_row(t, vals.data(), expect.data(), 64);
    CHECK(std::memcmp(ti->data, expect.data(), expect.size()) == 0);
  }
  const float* lazy = static_cast<const float*>(f.find_tensor("lazy")->data);
  CHECK(f.find_tensor("lazy")->shape == std::vector<int64_t>{2, 1, 1, 2});
  CHECK(lazy[0] == 9);
  CHECK(lazy[3] == 6);
  CHECK(f.find_tensor("nope") == nullptr);
}

TEST_CASE("GGUF files round trip through disk and mmap, with a custom alignment", "[gguf]") {
  testing::TempDir dir;
  GgufWriter w = everything_writer();
  REQUIRE(w.set_alignment(64).ok());
  CHECK(!w.set_alignment(48).ok());
  const std::string path = dir.file("x.gguf");
  REQUIRE(w.write(path).ok());
  auto f = GgufFile::open(path);
  REQUIRE(f.ok());
  CHECK(f->alignment() == 64);
  CHECK(f->data_offset() % 64 == 0);
  for (const auto& t : f->tensors()) CHECK(t.offset % 64 == 0);
  auto storage = f->storage();
  const void* data = f->find_tensor("w.f32")->data;
  f = Error{};  // drop the GgufFile; the storage keeps the mapping alive
  CHECK(static_cast<const float*>(data)[0] == -4.0f);
  // Writing twice gives the same bytes.
  const auto again = w.to_bytes();
  CHECK(std::string(again.begin(), again.end()) == testing::read_file(path));
}

TEST_CASE("typed accessors name the key and the types", "[gguf]") {
  const auto bytes = everything_writer().to_bytes();
  auto f = GgufFile::from_memory(bytes.data(), bytes.size(), "x.gguf");
  REQUIRE(f.ok());
  auto missing = f->get_u32("llama.block_count");
  REQUIRE(!missing.ok());
  CHECK(missing.error().message == "x.gguf: missing key llama.block_count");
  auto wrong = f->get_u32("t.string");
  REQUIRE(!wrong.ok());
  CHECK_THAT(wrong.error().message, Catch::Contains("key t.string: expected u32, got string"));
  auto negative = f->get_u32("t.i8");
  REQUIRE(!negative.ok());
  CHECK_THAT(negative.error().message, Catch::Contains("key t.i8") && Catch::Contains("out of range for u32"));
  CHECK(!f->get_i32("t.u64").ok());
  CHECK(!f->get_string("t.u8").ok());
  CHECK(!f->get_bool("t.u8").ok());
  CHECK(!f->get_f32("t.u8").ok());
  CHECK_THAT(f->get_string_array("t.ints").error().message, Catch::Contains("expected array of string, got array[i32; 3]"));
  CHECK(*f->get_u32_or("absent", 7) == 7);
  CHECK(!f->get_u32_or("t.string", 7).ok());
  CHECK(*f->get_f32_or("absent", 1e4f) == 1e4f);
  CHECK(*f->get_string_or("absent", "d") == "d");
}

TEST_CASE("third-party llama-2-tiny-random.gguf reads with its real metadata", "[gguf][shared]") {
  const std::string path = testing::shared_model("third-party/llama-2-tiny-random.gguf");
  if (path.empty()) {
    WARN("skipped: " TROUPE_SHARED_DIR "/models/third-party/llama-2-tiny-random.gguf is absent");
    return;
  }
  auto f = GgufFile::open(path);
  REQUIRE(f.ok());
  CHECK(f->version() == 3);
  CHECK(f->metadata().size() == 18);
  CHECK(*f->get_string("general.architecture") == "llama");
  CHECK(*f->get_string("general.name") == "LLaMA v2");
  CHECK(*f->get_u32("llama.context_length") == 4096);
  CHECK(*f->get_u32("llama.embedding_length") == 8);
  CHECK(*f->get_u32("llama.block_count") == 1);
  CHECK(*f->get_u32("llama.feed_forward_length") == 32);
  CHECK(*f->get_u32("llama.rope.dimension_count") == 4);
  CHECK(*f->get_u32("llama.attention.head_count") == 2);
  CHECK(*f->get_u32("llama.attention.head_count_kv") == 2);
  CHECK(*f->get_f32("llama.attention.layer_norm_rms_epsilon") == 1e-5f);
  CHECK(*f->get_u32("general.file_type") == 1);
  CHECK(*f->get_string("tokenizer.ggml.model") == "llama");
  auto tokens = f->get_string_array("tokenizer.ggml.tokens");
  REQUIRE(tokens.ok());
  REQUIRE(tokens->size() == 32000);
  CHECK((*tokens)[0] == "<unk>");
  CHECK((*tokens)[1] == "<s>");
  CHECK((*tokens)[2] == "</s>");
  CHECK((*tokens)[3] == "<0x00>");
  CHECK(f->get_f32_array("tokenizer.ggml.scores")->size() == 32000);
  auto types = f->get_i32_array("tokenizer.ggml.token_type");
  REQUIRE(types.ok());
  CHECK((*types)[0] == 2);
  CHECK((*types)[1] == 3);
  CHECK((*types)[3] == 6);
  CHECK(*f->get_u32("tokenizer.ggml.bos_token_id") == 1);
  CHECK(*f->get_u32("tokenizer.ggml.eos_token_id") == 2);
  CHECK(*f->get_u32("tokenizer.ggml.unknown_token_id") == 0);

  REQUIRE(f->tensors().size() == 12);
  CHECK(f->data_offset() == 724416);
  const GgufTensorInfo* embd = f->find_tensor("token_embd.weight");
  REQUIRE(embd);
  CHECK(embd->type == TensorType::f16);
  CHECK(embd->shape == std::vector<int64_t>{8, 32000});
  CHECK(embd->offset == 0);
  const GgufTensorInfo* norm = f->find_tensor("output_norm.weight");
  REQUIRE(norm);
  CHECK(norm->type == TensorType::f32);
  CHECK(norm->shape == std::vector<int64_t>{8});
  CHECK(f->find_tensor("blk.0.ffn_down.weight")->shape == std::vector<int64_t>{32, 8});
  const GgufTensorInfo* out = f->find_tensor("output.weight");
  CHECK(f->data_offset() + out->offset + out->bytes == f->file_size());
}

TEST_CASE("every truncation of a GGUF file is an Error, never a crash", "[gguf][bad]") {
  const auto bytes = tiny_file();
  REQUIRE(GgufFile::from_memory(bytes.data(), bytes.size()).ok());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto f = GgufFile::from_memory(bytes.data(), n, "cut.gguf");
    INFO("prefix of " << n << " of " << bytes.size() << " bytes");
    REQUIRE(!f.ok());
    REQUIRE_THAT(f.error().message, Catch::StartsWith("cut.gguf: "));
  }
  // Errors say what was being read.
  const size_t in_tokens = after(bytes, "<unk>") + 4;  // inside the length of token 1
  CHECK_THAT(parse_error(std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(in_tokens))),
             Catch::Contains("truncated") && Catch::Contains("key tokenizer.ggml.tokens[1]"));
  CHECK_THAT(parse_error(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 60)),
             Catch::Contains("metadata count 4 cannot fit"));
  CHECK_THAT(parse_error(std::vector<uint8_t>(bytes.begin(), bytes.end() - 1)),
             Catch::Contains("tensor b") && Catch::Contains("past the end of the file"));
}

TEST_CASE("bad GGUF headers are named errors", "[gguf][bad]") {
  auto b = tiny_file();
  SECTION("wrong magic") {
    b[0] = 'X';
    CHECK_THAT(parse_error(b), Catch::Contains("not a GGUF file (wrong magic)"));
  }
  SECTION("version 1 and unknown versions") {
    put_u32(b, 4, 1);
    CHECK_THAT(parse_error(b), Catch::Contains("version 1 is not supported"));
    put_u32(b, 4, 9);
    CHECK_THAT(parse_error(b), Catch::Contains("unsupported GGUF version 9"));
    put_u32(b, 4, 0x03000000);
    CHECK_THAT(parse_error(b), Catch::Contains("big-endian"));
  }
  SECTION("version 2 reads like version 3") {
    put_u32(b, 4, 2);
    auto f = GgufFile::from_memory(b.data(), b.size());
    REQUIRE(f.ok());
    CHECK(f->version() == 2);
  }
  SECTION("absurd counts") {
    put_u64(b, 8, ~0ull);
    CHECK_THAT(parse_error(b), Catch::Contains("tensor count 18446744073709551615 cannot fit"));
    b = tiny_file();
    put_u64(b, 16, 1ull << 60);
    CHECK_THAT(parse_error(b), Catch::Contains("metadata count"));
  }
  SECTION("absurd string and array lengths") {
    put_u64(b, after(b, "tokenizer.ggml.tokens") + 4 + 4, 1ull << 62);
    CHECK_THAT(parse_error(b), Catch::Contains("key tokenizer.ggml.tokens: array of 4611686018427387904 string does not fit"));
    b = tiny_file();
    put_u64(b, 24, ~0ull);  // length of the first key
    CHECK_THAT(parse_error(b), Catch::Contains("does not fit"));
  }
  SECTION("unknown value type") {
    put_u32(b, after(b, "llama.block_count"), 99);
    CHECK_THAT(parse_error(b), Catch::Contains("key llama.block_count: unknown value type 99"));
    b = tiny_file();
    put_u32(b, after(b, "tokenizer.ggml.tokens") + 4, 42);
    CHECK_THAT(parse_error(b), Catch::Contains("key tokenizer.ggml.tokens: unknown array element type 42"));
  }
  SECTION("bad alignment") {
    GgufWriter w;
    w.set_u32("general.alignment", 48);
    CHECK_THAT(parse_error(w.to_bytes()), Catch::Contains("general.alignment: expected a power of two"));
    w.set_string("general.alignment", "x");
    CHECK_THAT(parse_error(w.to_bytes()), Catch::Contains("general.alignment"));
  }
  SECTION("duplicate keys and tensors") {
    GgufWriter w;
    w.set_u32("key.aa", 1);
    w.set_u32("key.ab", 2);
    REQUIRE(w.add_tensor_f32("ta", TensorType::f32, {1}, std::vector<float>{1}).ok());
    REQUIRE(w.add_tensor_f32("tb", TensorType::f32, {1}, std::vector<float>{2}).ok());
    auto c = w.to_bytes();
    REQUIRE(parse_error(c).empty());
    c[after(c, "key.ab") - 1] = 'a';
    CHECK_THAT(parse_error(c), Catch::Contains("duplicate key key.aa"));
    c = w.to_bytes();
    c[after(c, "tb") - 1] = 'a';
    CHECK_THAT(parse_error(c), Catch::Contains("duplicate tensor ta"));
  }
}

TEST_CASE("bad tensor infos are errors naming the tensor", "[gguf][bad]") {
  auto b = tiny_file();
  const size_t info_b = after(b, std::string("\x01\0\0\0\0\0\0\0b", 9));  // name "b"
  SECTION("unknown tensor type") {
    put_u32(b, info_b + 4 + 8, 12);
    CHECK_THAT(parse_error(b), Catch::Contains("tensor b: unsupported tensor type 12 (q4_K)"));
    put_u32(b, info_b + 4 + 8, 1000);
    CHECK_THAT(parse_error(b), Catch::Contains("tensor b: unsupported tensor type 1000"));
  }
  SECTION("too many dimensions") {
    put_u32(b, info_b, 5);
    CHECK_THAT(parse_error(b), Catch::Contains("tensor b: 5 dimensions"));
  }
  SECTION("zero or huge dimension") {
    put_u64(b, info_b + 4, 0);
    CHECK_THAT(parse_error(b), Catch::Contains("tensor b: dimension 0 is 0"));
    put_u64(b, info_b + 4, 1ull << 63);
    CHECK_THAT(parse_error(b), Catch::Contains("tensor b: dimension 0"));
  }
  SECTION("first dimension not a block multiple") {
    put_u64(b, info_b + 4, 16);
    CHECK_THAT(parse_error(b), Catch::Contains("tensor b: shape {16}") && Catch::Contains("multiple of 32"));
  }
  SECTION("data out of range") {
    put_u64(b, info_b + 4 + 8 + 4, 1ull << 40);
    CHECK_THAT(parse_error(b), Catch::Contains("tensor b: data") && Catch::Contains("past the end"));
    put_u64(b, info_b + 4 + 8 + 4, ~0ull - 31);
    CHECK_THAT(parse_error(b), Catch::Contains("tensor b"));
  }
  SECTION("misaligned offset") {
    put_u64(b, info_b + 4 + 8 + 4, 33);
    CHECK_THAT(parse_error(b), Catch::Contains("tensor b: data offset 33 is not a multiple of the alignment 32"));
  }
}

TEST_CASE("deeply nested arrays are refused, not recursed into", "[gguf][bad]") {
  std::vector<uint8_t> b = {'G', 'G', 'U', 'F', 3, 0, 0, 0};
  auto u64 = [&](uint64_t v) { for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i))); };
  auto u32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i))); };
  u64(0);
  u64(1);
  u64(1);
  b.push_back('k');
  u32(9);  // array
  for (int i = 0; i < 1000; ++i) {
    u32(9);
    u64(1);
  }
  CHECK_THAT(parse_error(b), Catch::Contains("key k[0]") && Catch::Contains("arrays nested deeper than 8"));
}

TEST_CASE("GgufWriter refuses malformed tensors", "[gguf]") {
  GgufWriter w;
  CHECK(w.add_tensor_f32("a", TensorType::f32, {2}, std::vector<float>{1, 2}).ok());
  CHECK_THAT(w.add_tensor_f32("a", TensorType::f32, {2}, std::vector<float>{1, 2}).error().message,
             Catch::Contains("duplicate tensor a"));
  CHECK(!w.add_tensor_f32("b", TensorType::q8_0, {16}, std::vector<float>(16)).ok());
  CHECK(!w.add_tensor_f32("c", TensorType::f32, {3}, std::vector<float>{1, 2}).ok());
  CHECK(!w.add_tensor("d", TensorType::f16, {4}, std::vector<uint8_t>(7)).ok());
  CHECK(!w.add_tensor("e", TensorType::f32, {}, std::vector<uint8_t>{}).ok());
  CHECK(!w.add_tensor("f", TensorType::f32, {1, 1, 1, 1, 1}, std::vector<uint8_t>(4)).ok());
  CHECK(w.tensor_count() == 1);
  testing::TempDir dir;
  CHECK_THAT(w.write(dir.file("no/such/dir/x.gguf")).error().message, Catch::Contains("no/such/dir/x.gguf"));
}

TEST_CASE("opening missing, empty and non-GGUF files gives errors naming the path", "[gguf][bad]") {
  testing::TempDir dir;
  CHECK_THAT(GgufFile::open(dir.file("missing.gguf")).error().message, Catch::Contains("missing.gguf"));
  testing::write_file(dir.file("empty.gguf"), "");
  CHECK_THAT(GgufFile::open(dir.file("empty.gguf")).error().message, Catch::Contains("empty.gguf: not a GGUF file"));
  testing::write_file(dir.file("text.gguf"), "hello world, not gguf");
  CHECK_THAT(GgufFile::open(dir.file("text.gguf")).error().message, Catch::Contains("wrong magic"));
  CHECK(!GgufFile::open(dir.path().string()).ok());  // a directory
}
