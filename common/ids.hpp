// Identifiers and content hashes. new_id() returns "<prefix>-<12 hex ms
// since epoch><10 hex random>": unique across threads and processes (the
// random part comes from std::random_device), and ids made later sort
// after ids made earlier in the same process. sha256_hex() is the content
// hash used for content-addressed blobs.
#pragma once

#include <string>
#include <string_view>

namespace troupe {

std::string new_id(std::string_view prefix);
std::string sha256_hex(std::string_view data);

}  // namespace troupe
