// Test-only raw access to a store's column families, for tests that need a
// record the Store API would never write (corrupt values, a future schema
// version). Opens the RocksDB database at `path` directly, so no Store may
// have it open for writing at the time. Not for production code: every
// write that matters goes through Store.
#pragma once

#include <string>

#include "common/error.hpp"

namespace troupe::memory::testing {

// Puts `value` under `key` in column family `family` ("runs", "meta", ...).
Status write_raw(const std::string& path, const std::string& family, const std::string& key,
                 const std::string& value);

}  // namespace troupe::memory::testing
