// GGUF files (ggml's model container, versions 2 and 3, little-endian):
// reading any GGUF file without trusting it, and writing GGUF v3.
//
// GgufFile — what callers may rely on:
// - open() maps the file read-only; from_memory() parses a copy of a buffer.
//   Neither ever crashes, throws or makes an allocation larger than the
//   input on a malformed file: every count, length, offset and size is
//   checked against the bytes present, and the Error names the key or tensor
//   ("key tokenizer.ggml.tokens: array of 4294967295 strings does not fit in
//   the 812 bytes left", "tensor blk.0.attn_q.weight: data [..) is past the
//   end of the file").
// - Every metadata value type is read: u8..u64, i8..i64, f32, f64, bool,
//   string and arrays of any of them, arrays nested up to 8 deep.
// - Tensor infos are validated: at most 4 dimensions, each > 0; a type this
//   project knows (F32, F16, BF16, Q8_0, Q4_0; anything else is an error
//   naming the tensor and the ggml type); the first dimension a multiple of
//   the block size; data offsets aligned to `general.alignment` (default 32)
//   and inside the file. `data` points into the mapping.
// - The typed accessors return Result: "missing key llama.block_count",
//   "key llama.block_count: expected u32, got string". Integer accessors
//   accept any integer type whose value fits ("got i32 -1, out of range
//   for u32" otherwise); float accessors accept f32 and f64.
// - The mapping stays alive while the GgufFile, or any copy of storage(),
//   does. A GgufFile is immutable after loading, so concurrent reads are safe.
//
// GgufWriter — collects metadata (in insertion order; setting a key again
// replaces its value) and tensors, then writes a GGUF v3 file with every
// tensor's data aligned to `alignment` (32 unless set_alignment is called,
// which also records `general.alignment`).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.hpp"
#include "engine/local/model.hpp"

namespace troupe::engine::local {

// GGUF's numbering of metadata value types.
enum class GgufType : uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
  string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};
const char* to_string(GgufType t);

// One metadata value: a scalar, a string, or an array (of scalars, strings
// or arrays). Build one with the static factories.
class GgufValue {
 public:
  GgufValue() = default;
  static GgufValue u8(uint8_t v) { return make_uint(GgufType::u8, v); }
  static GgufValue u16(uint16_t v) { return make_uint(GgufType::u16, v); }
  static GgufValue u32(uint32_t v) { return make_uint(GgufType::u32, v); }
  static GgufValue u64(uint64_t v) { return make_uint(GgufType::u64, v); }
  static GgufValue i8(int8_t v) { return make_int(GgufType::i8, v); }
  static GgufValue i16(int16_t v) { return make_int(GgufType::i16, v); }
  static GgufValue i32(int32_t v) { return make_int(GgufType::i32, v); }
  static GgufValue i64(int64_t v) { return make_int(GgufType::i64, v); }
  static GgufValue f32(float v);
  static GgufValue f64(double v);
  static GgufValue boolean(bool v);
  static GgufValue string(std::string v);
  // Arrays. `items` must all have type `element`; nested arrays are allowed.
  static GgufValue array(GgufType element, std::vector<GgufValue> items);
  static GgufValue strings(std::vector<std::string> v);
  static GgufValue f32s(std::span<const float> v);
  static GgufValue i32s(std::span<const int32_t> v);
  static GgufValue u32s(std::span<const uint32_t> v);

  GgufType type() const { return type_; }
  bool is_integer() const;  // u8..u64, i8..i64
  bool is_float() const { return type_ == GgufType::f32 || type_ == GgufType::f64; }

  // Scalars (meaningful only for the matching type(); see GgufFile's
  // accessors for checked access).
  bool is_negative() const { return is_signed_ && int_ < 0; }
  uint64_t as_uint() const { return static_cast<uint64_t>(int_); }
  int64_t as_int() const { return int_; }
  double as_double() const { return float_; }
  bool as_bool() const { return int_ != 0; }
  const std::string& as_string() const { return string_; }

  // Arrays.
  GgufType element_type() const { return element_; }
  size_t size() const;                   // number of elements
  GgufValue at(size_t i) const;          // element i as a value
  const std::vector<std::string>& string_items() const { return strings_; }
  const std::vector<GgufValue>& array_items() const { return arrays_; }

  // "u32 7", "string \"llama\"", "array[string; 32000]": for messages.
  std::string describe() const;

 private:
  friend class GgufParser;
  friend class GgufWriter;
  static GgufValue make_uint(GgufType t, uint64_t v);
  static GgufValue make_int(GgufType t, int64_t v);

  GgufType type_ = GgufType::u8;
  bool is_signed_ = false;
  int64_t int_ = 0;  // integers (unsigned stored as their bits) and bool
  double float_ = 0;
  std::string string_;
  // Arrays: numeric and bool elements packed as in the file (little-endian,
  // element size each); strings and nested arrays in their own vectors.
  GgufType element_ = GgufType::u8;
  uint64_t count_ = 0;
  std::vector<uint8_t> raw_;
  std::vector<std::string> strings_;
  std::vector<GgufValue> arrays_;
};

struct GgufKeyValue {
  std::string key;
  GgufValue value;
};

struct GgufTensorInfo {
  std::string name;
  TensorType type = TensorType::f32;
  std::vector<int64_t> shape;  // fastest-varying first, 1..4 dimensions
  uint64_t offset = 0;         // from the start of the data section
  uint64_t bytes = 0;
  const void* data = nullptr;  // into the file's storage
  int64_t elements() const;
  TensorView view() const { return TensorView{name, type, shape, data}; }
};

class GgufFile {
 public:
  // Maps `path` read-only and parses it. Errors name the path.
  static Result<GgufFile> open(const std::string& path);
  // Parses a copy of `size` bytes at `data` (fuzzing, tests, embedded
  // files); `name` stands in for the path in messages.
  static Result<GgufFile> from_memory(const void* data, size_t size, std::string name = "<memory>");

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the data section
  uint64_t file_size() const { return size_; }
  // Keeps the bytes alive (usable as ModelWeights::storage).
  std::shared_ptr<void> storage() const { return storage_; }

  // Metadata, in file order.
  const std::vector<GgufKeyValue>& metadata() const { return kvs_; }
  const GgufValue* find(std::string_view key) const;  // nullptr when absent
  bool has(std::string_view key) const { return find(key) != nullptr; }

  Result<uint32_t> get_u32(std::string_view key) const;
  Result<int32_t> get_i32(std::string_view key) const;
  Result<uint64_t> get_u64(std::string_view key) const;
  Result<int64_t> get_i64(std::string_view key) const;
  Result<float> get_f32(std::string_view key) const;
  Result<double> get_f64(std::string_view key) const;
  Result<bool> get_bool(std::string_view key) const;
  Result<std::string> get_string(std::string_view key) const;
  // The same, with `fallback` when the key is absent (a wrong type is
  // still an error).
  Result<uint32_t> get_u32_or(std::string_view key, uint32_t fallback) const;
  Result<float> get_f32_or(std::string_view key, float fallback) const;
  Result<bool> get_bool_or(std::string_view key, bool fallback) const;
  Result<std::string> get_string_or(std::string_view key, std::string fallback) const;
  // Arrays. The span stays valid while this GgufFile lives.
  Result<std::span<const std::string>> get_string_array(std::string_view key) const;
  Result<std::vector<float>> get_f32_array(std::string_view key) const;    // f32/f64 elements
  Result<std::vector<int32_t>> get_i32_array(std::string_view key) const;  // any integer elements that fit
  Result<size_t> get_array_size(std::string_view key) const;

  // Tensors, in file order.
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;  // nullptr when absent

 private:
  friend class GgufParser;
  static Result<GgufFile> parse(std::shared_ptr<void> storage, const uint8_t* data, size_t size,
                                std::string path);
  Result<const GgufValue*> require(std::string_view key) const;

  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  uint64_t size_ = 0;
  std::shared_ptr<void> storage_;
  std::vector<GgufKeyValue> kvs_;
  std::unordered_map<std::string, size_t> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

class GgufWriter {
 public:
  void set(const std::string& key, GgufValue value);
  void set_u32(const std::string& key, uint32_t v) { set(key, GgufValue::u32(v)); }
  void set_i32(const std::string& key, int32_t v) { set(key, GgufValue::i32(v)); }
  void set_u64(const std::string& key, uint64_t v) { set(key, GgufValue::u64(v)); }
  void set_f32(const std::string& key, float v) { set(key, GgufValue::f32(v)); }
  void set_bool(const std::string& key, bool v) { set(key, GgufValue::boolean(v)); }
  void set_string(const std::string& key, std::string v) { set(key, GgufValue::string(std::move(v))); }
  void set_string_array(const std::string& key, std::vector<std::string> v) {
    set(key, GgufValue::strings(std::move(v)));
  }
  void set_f32_array(const std::string& key, std::span<const float> v) { set(key, GgufValue::f32s(v)); }
  void set_i32_array(const std::string& key, std::span<const int32_t> v) { set(key, GgufValue::i32s(v)); }
  void set_u32_array(const std::string& key, std::span<const uint32_t> v) { set(key, GgufValue::u32s(v)); }
  // A power of two; also written as `general.alignment` (u32).
  Status set_alignment(uint32_t alignment);

  // Adds a tensor whose bytes are already encoded as `type`
  // (tensor_bytes(type, elements) of them). Errors: duplicate name, empty
  // or >4-dimensional shape, a first dimension not a multiple of the block
  // size, a byte count that does not match.
  Status add_tensor(const std::string& name, TensorType type, std::vector<int64_t> shape,
                    std::vector<uint8_t> bytes);
  Status add_tensor(const std::string& name, TensorType type, std::vector<int64_t> shape,
                    const void* data, size_t size);
  // Converts float data to `type` (quantize_row) and adds it.
  Status add_tensor_f32(const std::string& name, TensorType type, std::vector<int64_t> shape,
                        std::span<const float> values);
  // Adds a tensor whose bytes are produced only when the file is written:
  // `fill` receives a buffer of tensor_bytes(type, elements) bytes. Keeps
  // memory to one tensor at a time for big random models.
  Status add_tensor_lazy(const std::string& name, TensorType type, std::vector<int64_t> shape,
                         std::function<void(uint8_t* out)> fill);

  size_t tensor_count() const { return tensors_.size(); }

  // The whole file as bytes, or written to `path` (errors name the path).
  std::vector<uint8_t> to_bytes() const;
  Status write(const std::string& path) const;

 private:
  struct PendingTensor {
    std::string name;
    TensorType type;
    std::vector<int64_t> shape;
    uint64_t bytes = 0;
    std::vector<uint8_t> data;                 // when given up front
    std::function<void(uint8_t*)> fill;        // when produced lazily
  };
  Status check_new_tensor(const std::string& name, TensorType type, const std::vector<int64_t>& shape) const;
  template <class Sink>
  void emit(Sink& sink) const;

  std::vector<GgufKeyValue> kvs_;
  std::vector<PendingTensor> tensors_;
  uint32_t alignment_ = 32;
};

}  // namespace troupe::engine::local
