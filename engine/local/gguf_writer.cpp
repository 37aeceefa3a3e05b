// GGUF v3 writer: metadata and tensors, aligned, written in one pass (lazy
// tensors are produced while writing, so memory holds one at a time).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>

#include "engine/local/gguf.hpp"
#include "engine/local/gguf_detail.hpp"
#include "engine/local/quant.hpp"

namespace troupe::engine::local {

using gguf_detail::align_up;
using gguf_detail::kMagic;
using gguf_detail::kMaxAlignment;
using gguf_detail::kMaxDims;
using gguf_detail::scalar_size;
using gguf_detail::shape_string;

// --------------------------------------------------------------- GgufWriter

void GgufWriter::set(const std::string& key, GgufValue value) {
  for (auto& kv : kvs_) {
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  }
  kvs_.push_back(GgufKeyValue{key, std::move(value)});
}

Status GgufWriter::set_alignment(uint32_t alignment) {
  if (alignment == 0 || !std::has_single_bit(alignment) || alignment > kMaxAlignment)
    return Error{ErrorCode::invalid_argument, "GGUF alignment must be a power of two, got " + std::to_string(alignment)};
  alignment_ = alignment;
  set_u32("general.alignment", alignment);
  return {};
}

Status GgufWriter::check_new_tensor(const std::string& name, TensorType type, const std::vector<int64_t>& shape) const {
  for (const auto& t : tensors_)
    if (t.name == name) return Error{ErrorCode::invalid_argument, "duplicate tensor " + name};
  if (shape.empty() || shape.size() > kMaxDims)
    return Error{ErrorCode::invalid_argument, "tensor " + name + ": " + std::to_string(shape.size()) + " dimensions (1 to 4 allowed)"};
  for (auto d : shape)
    if (d <= 0) return Error{ErrorCode::invalid_argument, "tensor " + name + ": shape " + shape_string(shape) + " has a non-positive dimension"};
  if (shape[0] % block_size(type) != 0)
    return Error{ErrorCode::invalid_argument, "tensor " + name + ": first dimension " + std::to_string(shape[0]) +
                                                  " is not a multiple of " + std::to_string(block_size(type)) + " (" + to_string(type) + ")"};
  return {};
}

namespace {
int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}
}  // namespace

Status GgufWriter::add_tensor(const std::string& name, TensorType type, std::vector<int64_t> shape,
                              std::vector<uint8_t> bytes) {
  if (auto st = check_new_tensor(name, type, shape); !st) return st;
  const uint64_t want = tensor_bytes(type, product(shape));
  if (bytes.size() != want)
    return Error{ErrorCode::invalid_argument, "tensor " + name + ": " + std::to_string(bytes.size()) + " bytes given, " +
                                                  to_string(type) + " " + shape_string(shape) + " needs " + std::to_string(want)};
  PendingTensor t;
  t.name = name;
  t.type = type;
  t.shape = std::move(shape);
  t.bytes = want;
  t.data = std::move(bytes);
  tensors_.push_back(std::move(t));
  return {};
}

Status GgufWriter::add_tensor(const std::string& name, TensorType type, std::vector<int64_t> shape, const void* data,
                              size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  return add_tensor(name, type, std::move(shape), std::vector<uint8_t>(p, p + size));
}

Status GgufWriter::add_tensor_f32(const std::string& name, TensorType type, std::vector<int64_t> shape,
                                  std::span<const float> values) {
  if (auto st = check_new_tensor(name, type, shape); !st) return st;
  const int64_t n = product(shape);
  if (static_cast<int64_t>(values.size()) != n)
    return Error{ErrorCode::invalid_argument, "tensor " + name + ": " + std::to_string(values.size()) +
                                                  " values given, shape " + shape_string(shape) + " needs " + std::to_string(n)};
  std::vector<uint8_t> bytes(tensor_bytes(type, n));
  quantize_row(type, values.data(), bytes.data(), n);
  return add_tensor(name, type, std::move(shape), std::move(bytes));
}

Status GgufWriter::add_tensor_lazy(const std::string& name, TensorType type, std::vector<int64_t> shape,
                                   std::function<void(uint8_t* out)> fill) {
  if (auto st = check_new_tensor(name, type, shape); !st) return st;
  PendingTensor t;
  t.name = name;
  t.type = type;
  t.bytes = tensor_bytes(type, product(shape));
  t.shape = std::move(shape);
  t.fill = std::move(fill);
  tensors_.push_back(std::move(t));
  return {};
}

namespace {

template <class Sink>
void put_raw(Sink& sink, const void* p, size_t n) {
  sink(static_cast<const uint8_t*>(p), n);
}
template <class Sink, class T>
void put(Sink& sink, T v) {
  put_raw(sink, &v, sizeof(T));
}
template <class Sink>
void put_string(Sink& sink, const std::string& s) {
  put<Sink, uint64_t>(sink, s.size());
  put_raw(sink, s.data(), s.size());
}

template <class Sink>
void put_array_body(Sink& sink, const GgufValue& v);

template <class Sink>
void put_value_body(Sink& sink, const GgufValue& v) {
  switch (v.type()) {
    case GgufType::string: put_string(sink, v.as_string()); return;
    case GgufType::array: put_array_body(sink, v); return;
    case GgufType::f32: put<Sink, float>(sink, static_cast<float>(v.as_double())); return;
    case GgufType::f64: put<Sink, double>(sink, v.as_double()); return;
    default: {
      const int64_t bits = v.as_int();
      put_raw(sink, &bits, scalar_size(v.type()));  // little-endian low bytes
      return;
    }
  }
}

template <class Sink>
void put_array_body(Sink& sink, const GgufValue& v) {
  put<Sink, uint32_t>(sink, static_cast<uint32_t>(v.element_type()));
  put<Sink, uint64_t>(sink, v.size());
  if (v.element_type() == GgufType::string) {
    for (const auto& s : v.string_items()) put_string(sink, s);
  } else if (v.element_type() == GgufType::array) {
    for (const auto& a : v.array_items()) put_array_body(sink, a);
  } else {
    for (size_t i = 0; i < v.size(); ++i) put_value_body(sink, v.at(i));
  }
}

}  // namespace

template <class Sink>
void GgufWriter::emit(Sink& sink) const {
  uint64_t written = 0;
  auto counted = [&](const uint8_t* p, size_t n) {
    sink(p, n);
    written += n;
  };
  put<decltype(counted), uint32_t>(counted, kMagic);
  put<decltype(counted), uint32_t>(counted, 3);
  put<decltype(counted), uint64_t>(counted, tensors_.size());
  put<decltype(counted), uint64_t>(counted, kvs_.size());
  for (const auto& kv : kvs_) {
    put_string(counted, kv.key);
    put<decltype(counted), uint32_t>(counted, static_cast<uint32_t>(kv.value.type()));
    put_value_body(counted, kv.value);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    put_string(counted, t.name);
    put<decltype(counted), uint32_t>(counted, static_cast<uint32_t>(t.shape.size()));
    for (auto d : t.shape) put<decltype(counted), uint64_t>(counted, static_cast<uint64_t>(d));
    put<decltype(counted), uint32_t>(counted, static_cast<uint32_t>(t.type));
    put<decltype(counted), uint64_t>(counted, offset);
    offset = align_up(offset + t.bytes, alignment_);
  }
  static const uint8_t zeros[64] = {};
  auto pad = [&]() {
    while (written % alignment_ != 0) {
      const auto n = static_cast<size_t>(std::min<uint64_t>(sizeof(zeros), alignment_ - written % alignment_));
      counted(zeros, n);
    }
  };
  if (!tensors_.empty()) pad();
  std::vector<uint8_t> scratch;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const auto& t = tensors_[i];
    if (t.fill) {
      scratch.assign(static_cast<size_t>(t.bytes), 0);
      t.fill(scratch.data());
      counted(scratch.data(), scratch.size());
    } else {
      counted(t.data.data(), t.data.size());
    }
    if (i + 1 < tensors_.size()) pad();
  }
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
  std::vector<uint8_t> out;
  auto sink = [&](const uint8_t* p, size_t n) { out.insert(out.end(), p, p + n); };
  emit(sink);
  return out;
}

Status GgufWriter::write(const std::string& path) const {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return Error{ErrorCode::io, path + ": " + std::strerror(errno)};
  bool ok = true;
  auto sink = [&](const uint8_t* p, size_t n) {
    if (ok && n && std::fwrite(p, 1, n, f) != n) ok = false;
  };
  emit(sink);
  const int e = errno;
  if (std::fclose(f) != 0) ok = false;
  if (!ok) return Error{ErrorCode::io, path + ": write failed: " + std::strerror(e)};
  return {};
}

}  // namespace troupe::engine::local
