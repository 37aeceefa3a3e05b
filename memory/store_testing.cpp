#include "memory/store_testing.hpp"

#include <memory>
#include <vector>

#include <rocksdb/db.h>

namespace troupe::memory::testing {

Status write_raw(const std::string& path, const std::string& family, const std::string& key,
                 const std::string& value) {
  rocksdb::DBOptions options;
  std::vector<std::string> names;
  auto s = rocksdb::DB::ListColumnFamilies(options, path, &names);
  if (!s.ok()) return Error(ErrorCode::io, "write_raw: " + s.ToString());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  s = rocksdb::DB::Open(options, path, descriptors, &handles, &raw);
  if (!s.ok()) return Error(ErrorCode::io, "write_raw: " + s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  Status result = Error(ErrorCode::not_found, "write_raw: no column family '" + family + "'");
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] != family) continue;
    s = db->Put(rocksdb::WriteOptions(), handles[i], key, value);
    result = s.ok() ? Status() : Status(Error(ErrorCode::io, "write_raw: " + s.ToString()));
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  (void)db->Close();
  return result;
}

}  // namespace troupe::memory::testing
