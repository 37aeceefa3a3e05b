// GGUF reader (mmap or memory, every input checked). The writer is gguf_writer.cpp.
#include "engine/local/gguf.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>

#include "engine/local/gguf_detail.hpp"
#include "engine/local/quant.hpp"

static_assert(std::endian::native == std::endian::little, "GGUF I/O assumes a little-endian host");

namespace troupe::engine::local {

using gguf_detail::scalar_size;
using gguf_detail::shape_string;

namespace {

using gguf_detail::kMagic;
using gguf_detail::kMaxAlignment;
using gguf_detail::kMaxDims;
constexpr int kMaxArrayDepth = 8;

bool valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::f64); }

// Smallest number of bytes one element of type `t` takes in the file.
size_t min_encoded_size(GgufType t) {
  if (t == GgufType::string) return 8;     // u64 length
  if (t == GgufType::array) return 4 + 8;  // element type + count
  return scalar_size(t);
}

bool is_integer_type(GgufType t) {
  switch (t) {
    case GgufType::u8: case GgufType::i8: case GgufType::u16: case GgufType::i16:
    case GgufType::u32: case GgufType::i32: case GgufType::u64: case GgufType::i64: return true;
    default: return false;
  }
}

bool is_signed_type(GgufType t) {
  return t == GgufType::i8 || t == GgufType::i16 || t == GgufType::i32 || t == GgufType::i64;
}

// Reads a scalar of type `t` from `p` (little-endian) into `v`.
void load_scalar(GgufType t, const uint8_t* p, int64_t& i, double& f) {
  switch (t) {
    case GgufType::u8: i = p[0]; break;
    case GgufType::i8: i = static_cast<int8_t>(p[0]); break;
    case GgufType::boolean: i = p[0] != 0; break;
    case GgufType::u16: { uint16_t x; std::memcpy(&x, p, 2); i = x; break; }
    case GgufType::i16: { int16_t x; std::memcpy(&x, p, 2); i = x; break; }
    case GgufType::u32: { uint32_t x; std::memcpy(&x, p, 4); i = x; break; }
    case GgufType::i32: { int32_t x; std::memcpy(&x, p, 4); i = x; break; }
    case GgufType::u64: { uint64_t x; std::memcpy(&x, p, 8); i = static_cast<int64_t>(x); break; }
    case GgufType::i64: { int64_t x; std::memcpy(&x, p, 8); i = x; break; }
    case GgufType::f32: { float x; std::memcpy(&x, p, 4); f = x; break; }
    case GgufType::f64: { double x; std::memcpy(&x, p, 8); f = x; break; }
    case GgufType::string:
    case GgufType::array: break;
  }
}

// ggml's names for the tensor types this project does not read, for messages.
const char* ggml_type_name(uint32_t t) {
  static const char* names[] = {"f32",  "f16",  "q4_0", "q4_1", "q4_2", "q4_3", "q5_0",  "q5_1",
                                "q8_0", "q8_1", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K",  "q8_K",
                                "iq2_xxs", "iq2_xs", "iq3_xxs", "iq1_s", "iq4_nl", "iq3_s", "iq2_s", "iq4_xs",
                                "i8",   "i16",  "i32",  "i64",  "f64",  "iq1_m", "bf16"};
  if (t < sizeof(names) / sizeof(names[0])) return names[t];
  return "unknown";
}

bool known_tensor_type(uint32_t t, TensorType& out) {
  switch (t) {
    case 0: out = TensorType::f32; return true;
    case 1: out = TensorType::f16; return true;
    case 2: out = TensorType::q4_0; return true;
    case 8: out = TensorType::q8_0; return true;
    case 30: out = TensorType::bf16; return true;
    default: return false;
  }
}

using gguf_detail::align_up;

}  // namespace

const char* to_string(GgufType t) {
  switch (t) {
    case GgufType::u8: return "u8";
    case GgufType::i8: return "i8";
    case GgufType::u16: return "u16";
    case GgufType::i16: return "i16";
    case GgufType::u32: return "u32";
    case GgufType::i32: return "i32";
    case GgufType::f32: return "f32";
    case GgufType::boolean: return "bool";
    case GgufType::string: return "string";
    case GgufType::array: return "array";
    case GgufType::u64: return "u64";
    case GgufType::i64: return "i64";
    case GgufType::f64: return "f64";
  }
  return "unknown";
}

// ---------------------------------------------------------------- GgufValue

GgufValue GgufValue::make_uint(GgufType t, uint64_t v) {
  GgufValue out;
  out.type_ = t;
  out.int_ = static_cast<int64_t>(v);
  return out;
}

GgufValue GgufValue::make_int(GgufType t, int64_t v) {
  GgufValue out;
  out.type_ = t;
  out.is_signed_ = true;
  out.int_ = v;
  return out;
}

GgufValue GgufValue::f32(float v) {
  GgufValue out;
  out.type_ = GgufType::f32;
  out.float_ = v;
  return out;
}

GgufValue GgufValue::f64(double v) {
  GgufValue out;
  out.type_ = GgufType::f64;
  out.float_ = v;
  return out;
}

GgufValue GgufValue::boolean(bool v) {
  GgufValue out;
  out.type_ = GgufType::boolean;
  out.int_ = v ? 1 : 0;
  return out;
}

GgufValue GgufValue::string(std::string v) {
  GgufValue out;
  out.type_ = GgufType::string;
  out.string_ = std::move(v);
  return out;
}

GgufValue GgufValue::array(GgufType element, std::vector<GgufValue> items) {
  GgufValue out;
  out.type_ = GgufType::array;
  out.element_ = element;
  out.count_ = items.size();
  if (element == GgufType::string) {
    out.strings_.reserve(items.size());
    for (auto& it : items) out.strings_.push_back(std::move(it.string_));
  } else if (element == GgufType::array) {
    out.arrays_ = std::move(items);
  } else {
    const size_t sz = scalar_size(element);
    out.raw_.resize(items.size() * sz);
    for (size_t i = 0; i < items.size(); ++i) {
      uint8_t* p = out.raw_.data() + i * sz;
      const GgufValue& it = items[i];
      if (element == GgufType::f32) {
        const auto f = static_cast<float>(it.float_);
        std::memcpy(p, &f, 4);
      } else if (element == GgufType::f64) {
        std::memcpy(p, &it.float_, 8);
      } else {
        std::memcpy(p, &it.int_, sz);  // little-endian: the low bytes
      }
    }
  }
  return out;
}

GgufValue GgufValue::strings(std::vector<std::string> v) {
  GgufValue out;
  out.type_ = GgufType::array;
  out.element_ = GgufType::string;
  out.count_ = v.size();
  out.strings_ = std::move(v);
  return out;
}

GgufValue GgufValue::f32s(std::span<const float> v) {
  GgufValue out;
  out.type_ = GgufType::array;
  out.element_ = GgufType::f32;
  out.count_ = v.size();
  out.raw_.resize(v.size_bytes());
  if (!v.empty()) std::memcpy(out.raw_.data(), v.data(), v.size_bytes());
  return out;
}

GgufValue GgufValue::i32s(std::span<const int32_t> v) {
  GgufValue out;
  out.type_ = GgufType::array;
  out.element_ = GgufType::i32;
  out.count_ = v.size();
  out.raw_.resize(v.size_bytes());
  if (!v.empty()) std::memcpy(out.raw_.data(), v.data(), v.size_bytes());
  return out;
}

GgufValue GgufValue::u32s(std::span<const uint32_t> v) {
  GgufValue out;
  out.type_ = GgufType::array;
  out.element_ = GgufType::u32;
  out.count_ = v.size();
  out.raw_.resize(v.size_bytes());
  if (!v.empty()) std::memcpy(out.raw_.data(), v.data(), v.size_bytes());
  return out;
}

bool GgufValue::is_integer() const { return is_integer_type(type_); }

size_t GgufValue::size() const { return type_ == GgufType::array ? static_cast<size_t>(count_) : 0; }

GgufValue GgufValue::at(size_t i) const {
  if (type_ != GgufType::array || i >= count_) return {};
  if (element_ == GgufType::string) return string(strings_[i]);
  if (element_ == GgufType::array) return arrays_[i];
  GgufValue out;
  out.type_ = element_;
  out.is_signed_ = is_signed_type(element_);
  load_scalar(element_, raw_.data() + i * scalar_size(element_), out.int_, out.float_);
  return out;
}

std::string GgufValue::describe() const {
  switch (type_) {
    case GgufType::string: return "string \"" + (string_.size() > 40 ? string_.substr(0, 40) + "..." : string_) + "\"";
    case GgufType::array: return std::string("array[") + to_string(element_) + "; " + std::to_string(count_) + "]";
    case GgufType::boolean: return int_ ? "bool true" : "bool false";
    case GgufType::f32:
    case GgufType::f64: return std::string(to_string(type_)) + " " + std::to_string(float_);
    default:
      return std::string(to_string(type_)) + " " +
             (is_signed_ ? std::to_string(int_) : std::to_string(static_cast<uint64_t>(int_)));
  }
}

int64_t GgufTensorInfo::elements() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

// --------------------------------------------------------------- GgufParser

// Reads the bytes of a GGUF file front to back; every read is bounds-checked
// and the first failure is kept as `error`.
class GgufParser {
 public:
  GgufParser(const uint8_t* data, size_t size, std::string path)
      : p_(data), size_(size), path_(std::move(path)) {}

  Result<GgufFile> run(std::shared_ptr<void> storage);

 private:
  size_t left() const { return size_ - pos_; }
  bool fail(ErrorCode code, const std::string& msg) {
    if (!failed_) {
      failed_ = true;
      error_ = Error{code, path_ + ": " + msg};
    }
    return false;
  }
  bool truncated(const std::string& what) {
    return fail(ErrorCode::parse, "file truncated at byte " + std::to_string(pos_) + " (of " +
                                      std::to_string(size_) + ") reading " + what);
  }
  template <class T>
  bool read(T& out, const std::string& what) {
    if (left() < sizeof(T)) return truncated(what);
    std::memcpy(&out, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool read_string(std::string& out, const std::string& what) {
    uint64_t len = 0;
    if (!read(len, what)) return false;
    if (len > left())
      return fail(ErrorCode::parse, what + ": string of " + std::to_string(len) + " bytes does not fit in the " +
                                        std::to_string(left()) + " bytes left");
    out.assign(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return true;
  }
  bool read_value(GgufType type, GgufValue& out, const std::string& what, int depth);
  bool read_array(GgufValue& out, const std::string& what, int depth);

  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0;
  std::string path_;
  bool failed_ = false;
  Error error_;
};

bool GgufParser::read_value(GgufType type, GgufValue& out, const std::string& what, int depth) {
  out.type_ = type;
  out.is_signed_ = is_signed_type(type);
  if (type == GgufType::string) return read_string(out.string_, what);
  if (type == GgufType::array) return read_array(out, what, depth + 1);
  const size_t sz = scalar_size(type);
  if (left() < sz) return truncated(what);
  load_scalar(type, p_ + pos_, out.int_, out.float_);
  pos_ += sz;
  return true;
}

bool GgufParser::read_array(GgufValue& out, const std::string& what, int depth) {
  if (depth > kMaxArrayDepth)
    return fail(ErrorCode::parse, what + ": arrays nested deeper than " + std::to_string(kMaxArrayDepth));
  uint32_t elem = 0;
  uint64_t count = 0;
  if (!read(elem, what + " (array element type)")) return false;
  if (!valid_value_type(elem))
    return fail(ErrorCode::parse, what + ": unknown array element type " + std::to_string(elem));
  if (!read(count, what + " (array length)")) return false;
  const auto etype = static_cast<GgufType>(elem);
  const size_t min = min_encoded_size(etype);
  if (count > left() / min)
    return fail(ErrorCode::parse, what + ": array of " + std::to_string(count) + " " + to_string(etype) +
                                      " does not fit in the " + std::to_string(left()) + " bytes left");
  out.type_ = GgufType::array;
  out.element_ = etype;
  out.count_ = count;
  const auto n = static_cast<size_t>(count);
  if (etype == GgufType::string) {
    out.strings_.resize(n);
    for (size_t i = 0; i < n; ++i)
      if (!read_string(out.strings_[i], what + "[" + std::to_string(i) + "]")) return false;
  } else if (etype == GgufType::array) {
    out.arrays_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      out.arrays_[i].type_ = GgufType::array;
      if (!read_array(out.arrays_[i], what + "[" + std::to_string(i) + "]", depth + 1)) return false;
    }
  } else {
    const size_t bytes = n * min;  // fits: checked against left() above
    out.raw_.assign(p_ + pos_, p_ + pos_ + bytes);
    pos_ += bytes;
  }
  return true;
}

Result<GgufFile> GgufParser::run(std::shared_ptr<void> storage) {
  GgufFile file;
  file.path_ = path_;
  file.size_ = size_;
  file.storage_ = std::move(storage);

  uint32_t magic = 0;
  if (size_ < 4) return Error{ErrorCode::parse, path_ + ": not a GGUF file (only " + std::to_string(size_) + " bytes)"};
  std::memcpy(&magic, p_, 4);
  if (magic != kMagic) return Error{ErrorCode::parse, path_ + ": not a GGUF file (wrong magic)"};
  pos_ = 4;
  uint32_t version = 0;
  if (!read(version, "the version")) return error_;
  if (version == 1) return Error{ErrorCode::unsupported, path_ + ": GGUF version 1 is not supported (only 2 and 3)"};
  if (version != 2 && version != 3) {
    if ((version & 0xffffu) == 0 && version != 0)
      return Error{ErrorCode::unsupported, path_ + ": big-endian GGUF files are not supported"};
    return Error{ErrorCode::unsupported, path_ + ": unsupported GGUF version " + std::to_string(version)};
  }
  file.version_ = version;
  uint64_t n_tensors = 0, n_kv = 0;
  if (!read(n_tensors, "the tensor count") || !read(n_kv, "the metadata count")) return error_;
  // Each key/value takes at least 13 bytes, each tensor info at least 32.
  if (n_kv > left() / 13)
    return Error{ErrorCode::parse, path_ + ": metadata count " + std::to_string(n_kv) + " cannot fit in the file"};
  if (n_tensors > left() / 32)
    return Error{ErrorCode::parse, path_ + ": tensor count " + std::to_string(n_tensors) + " cannot fit in the file"};

  file.kvs_.reserve(static_cast<size_t>(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    GgufKeyValue kv;
    if (!read_string(kv.key, "the key of metadata entry " + std::to_string(i))) return error_;
    const std::string what = "key " + kv.key;
    uint32_t type = 0;
    if (!read(type, what + " (value type)")) return error_;
    if (!valid_value_type(type))
      return Error{ErrorCode::parse, path_ + ": " + what + ": unknown value type " + std::to_string(type)};
    if (!read_value(static_cast<GgufType>(type), kv.value, what, 0)) return error_;
    if (file.kv_index_.count(kv.key))
      return Error{ErrorCode::parse, path_ + ": duplicate key " + kv.key};
    file.kv_index_.emplace(kv.key, file.kvs_.size());
    file.kvs_.push_back(std::move(kv));
  }

  if (const GgufValue* a = file.find("general.alignment")) {
    if (!a->is_integer() || a->is_negative() || a->as_uint() == 0 || a->as_uint() > kMaxAlignment ||
        !std::has_single_bit(a->as_uint()))
      return Error{ErrorCode::parse, path_ + ": key general.alignment: expected a power of two, got " + a->describe()};
    file.alignment_ = a->as_uint();
  }

  file.tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    if (!read_string(t.name, "the name of tensor " + std::to_string(i))) return error_;
    const std::string what = "tensor " + t.name;
    uint32_t n_dims = 0;
    if (!read(n_dims, what + " (dimension count)")) return error_;
    if (n_dims == 0 || n_dims > kMaxDims)
      return Error{ErrorCode::parse, path_ + ": " + what + ": " + std::to_string(n_dims) + " dimensions (1 to 4 allowed)"};
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim = 0;
      if (!read(dim, what + " (dimension " + std::to_string(d) + ")")) return error_;
      if (dim == 0 || dim > (uint64_t{1} << 40) || elements > (uint64_t{1} << 50) / dim)
        return Error{ErrorCode::parse, path_ + ": " + what + ": dimension " + std::to_string(d) + " is " +
                                           std::to_string(dim) + ", out of range"};
      elements *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    uint32_t type = 0;
    if (!read(type, what + " (type)") || !read(t.offset, what + " (offset)")) return error_;
    if (!known_tensor_type(type, t.type))
      return Error{ErrorCode::unsupported, path_ + ": " + what + ": unsupported tensor type " + std::to_string(type) +
                                               " (" + ggml_type_name(type) + "); supported: f32, f16, bf16, q8_0, q4_0"};
    if (t.shape[0] % block_size(t.type) != 0)
      return Error{ErrorCode::parse, path_ + ": " + what + ": shape " + shape_string(t.shape) + " has a first dimension that is not a multiple of " +
                                         std::to_string(block_size(t.type)) + " (the " + to_string(t.type) + " block size)"};
    t.bytes = tensor_bytes(t.type, static_cast<int64_t>(elements));
    if (file.tensor_index_.count(t.name))
      return Error{ErrorCode::parse, path_ + ": duplicate tensor " + t.name};
    file.tensor_index_.emplace(t.name, file.tensors_.size());
    file.tensors_.push_back(std::move(t));
  }

  file.data_offset_ = align_up(pos_, file.alignment_);
  for (auto& t : file.tensors_) {
    const std::string what = "tensor " + t.name;
    if (t.offset % file.alignment_ != 0)
      return Error{ErrorCode::parse, path_ + ": " + what + ": data offset " + std::to_string(t.offset) +
                                         " is not a multiple of the alignment " + std::to_string(file.alignment_)};
    const uint64_t avail = file.data_offset_ <= size_ ? size_ - file.data_offset_ : 0;
    if (t.offset > avail || t.bytes > avail - t.offset)
      return Error{ErrorCode::parse, path_ + ": " + what + ": data [" + std::to_string(file.data_offset_ + t.offset) + ", " +
                                         std::to_string(file.data_offset_ + t.offset + t.bytes) +
                                         ") is past the end of the file (" + std::to_string(size_) + " bytes)"};
    t.data = p_ + file.data_offset_ + t.offset;
  }
  return file;
}

// ----------------------------------------------------------------- GgufFile

Result<GgufFile> GgufFile::parse(std::shared_ptr<void> storage, const uint8_t* data, size_t size, std::string path) {
  GgufParser parser(data, size, std::move(path));
  return parser.run(std::move(storage));
}

Result<GgufFile> GgufFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error{ErrorCode::io, path + ": " + std::strerror(errno)};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return Error{ErrorCode::io, path + ": " + std::strerror(e)};
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error{ErrorCode::io, path + ": not a regular file"};
  }
  const auto size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return Error{ErrorCode::parse, path + ": not a GGUF file (empty)"};
  }
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int e = errno;
  ::close(fd);
  if (addr == MAP_FAILED) return Error{ErrorCode::io, path + ": mmap: " + std::strerror(e)};
  std::shared_ptr<void> storage(addr, [size](void* p) { ::munmap(p, size); });
  return parse(std::move(storage), static_cast<const uint8_t*>(addr), size, path);
}

Result<GgufFile> GgufFile::from_memory(const void* data, size_t size, std::string name) {
  // A 64-byte-aligned copy, so tensor data is as aligned as in a mapping.
  void* copy = ::operator new(size == 0 ? 1 : size, std::align_val_t{64});
  if (size) std::memcpy(copy, data, size);
  std::shared_ptr<void> storage(copy, [](void* p) { ::operator delete(p, std::align_val_t{64}); });
  return parse(std::move(storage), static_cast<const uint8_t*>(copy), size, std::move(name));
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(std::string(key));
  return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Result<const GgufValue*> GgufFile::require(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return Error{ErrorCode::parse, path_ + ": missing key " + std::string(key)};
  return v;
}

namespace {

Error wrong_type(const std::string& path, std::string_view key, const char* expected, const GgufValue& v) {
  return Error{ErrorCode::parse, path + ": key " + std::string(key) + ": expected " + expected + ", got " + v.describe()};
}

// An integer value of any width converted to T when it fits.
template <class T>
Result<T> integer_as(const std::string& path, std::string_view key, const char* name, const GgufValue& v) {
  if (!v.is_integer()) return wrong_type(path, key, name, v);
  if (v.is_negative()) {
    if (!std::is_signed_v<T> || v.as_int() < static_cast<int64_t>(std::numeric_limits<T>::min()))
      return Error{ErrorCode::parse, path + ": key " + std::string(key) + ": got " + v.describe() + ", out of range for " + name};
    return static_cast<T>(v.as_int());
  }
  const bool is_unsigned_64 = v.type() == GgufType::u64;
  const uint64_t u = v.as_uint();
  if ((is_unsigned_64 || u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) &&
      u <= static_cast<uint64_t>(std::numeric_limits<T>::max()))
    return static_cast<T>(u);
  return Error{ErrorCode::parse, path + ": key " + std::string(key) + ": got " + v.describe() + ", out of range for " + name};
}

}  // namespace

Result<uint32_t> GgufFile::get_u32(std::string_view key) const {
  auto v = require(key);
  if (!v) return v.error();
  return integer_as<uint32_t>(path_, key, "u32", **v);
}
Result<int32_t> GgufFile::get_i32(std::string_view key) const {
  auto v = require(key);
  if (!v) return v.error();
  return integer_as<int32_t>(path_, key, "i32", **v);
}
Result<uint64_t> GgufFile::get_u64(std::string_view key) const {
  auto v = require(key);
  if (!v) return v.error();
  return integer_as<uint64_t>(path_, key, "u64", **v);
}
Result<int64_t> GgufFile::get_i64(std::string_view key) const {
  auto v = require(key);
  if (!v) return v.error();
  return integer_as<int64_t>(path_, key, "i64", **v);
}
Result<float> GgufFile::get_f32(std::string_view key) const {
  auto v = require(key);
  if (!v) return v.error();
  if (!(*v)->is_float()) return wrong_type(path_, key, "f32", **v);
  return static_cast<float>((*v)->as_double());
}
Result<double> GgufFile::get_f64(std::string_view key) const {
  auto v = require(key);
  if (!v) return v.error();
  if (!(*v)->is_float()) return wrong_type(path_, key, "f64", **v);
  return (*v)->as_double();
}
Result<bool> GgufFile::get_bool(std::string_view key) const {
  auto v = require(key);
  if (!v) return v.error();
  if ((*v)->type() != GgufType::boolean) return wrong_type(path_, key, "bool", **v);
  return (*v)->as_bool();
}
Result<std::string> GgufFile::get_string(std::string_view key) const {
  auto v = require(key);
  if (!v) return v.error();
  if ((*v)->type() != GgufType::string) return wrong_type(path_, key, "string", **v);
  return (*v)->as_string();
}
Result<uint32_t> GgufFile::get_u32_or(std::string_view key, uint32_t fallback) const {
  return has(key) ? get_u32(key) : Result<uint32_t>(fallback);
}
Result<float> GgufFile::get_f32_or(std::string_view key, float fallback) const {
  return has(key) ? get_f32(key) : Result<float>(fallback);
}
Result<bool> GgufFile::get_bool_or(std::string_view key, bool fallback) const {
  return has(key) ? get_bool(key) : Result<bool>(fallback);
}
Result<std::string> GgufFile::get_string_or(std::string_view key, std::string fallback) const {
  return has(key) ? get_string(key) : Result<std::string>(std::move(fallback));
}

Result<std::span<const std::string>> GgufFile::get_string_array(std::string_view key) const {
  auto v = require(key);
  if (!v) return v.error();
  if ((*v)->type() != GgufType::array || (*v)->element_type() != GgufType::string)
    return wrong_type(path_, key, "array of string", **v);
  return std::span<const std::string>((*v)->string_items());
}

Result<std::vector<float>> GgufFile::get_f32_array(std::string_view key) const {
  auto v = require(key);
  if (!v) return v.error();
  const GgufValue& a = **v;
  if (a.type() != GgufType::array || (a.element_type() != GgufType::f32 && a.element_type() != GgufType::f64))
    return wrong_type(path_, key, "array of f32", a);
  std::vector<float> out(a.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(a.at(i).as_double());
  return out;
}

Result<std::vector<int32_t>> GgufFile::get_i32_array(std::string_view key) const {
  auto v = require(key);
  if (!v) return v.error();
  const GgufValue& a = **v;
  if (a.type() != GgufType::array || !is_integer_type(a.element_type()))
    return wrong_type(path_, key, "array of i32", a);
  std::vector<int32_t> out(a.size());
  for (size_t i = 0; i < out.size(); ++i) {
    auto x = integer_as<int32_t>(path_, std::string(key) + "[" + std::to_string(i) + "]", "i32", a.at(i));
    if (!x) return x.error();
    out[i] = *x;
  }
  return out;
}

Result<size_t> GgufFile::get_array_size(std::string_view key) const {
  auto v = require(key);
  if (!v) return v.error();
  if ((*v)->type() != GgufType::array) return wrong_type(path_, key, "array", **v);
  return (*v)->size();
}

}  // namespace troupe::engine::local
