// Run inputs from JSONL files (workflows/inputs.hpp): a UTF-8 byte-order
// mark is accepted, and a line over the limit is refused by number and
// limit without being read whole (memory stays bounded), after which the
// reader goes on with the next line.
#include <catch2/catch.hpp>
#include <sys/resource.h>

#include <fstream>
#include <sstream>

#include "support/temp_dir.hpp"
#include "workflows/inputs.hpp"

using namespace troupe;
using namespace troupe::workflows;
using troupe::testing::TempDir;
using troupe::testing::write_file;

namespace {

long max_rss_kb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

}  // namespace

TEST_CASE("a JSONL input file that starts with a UTF-8 byte-order mark reads from its first line", "[inputs]") {
  TempDir dir;
  write_file(dir.file("in.jsonl"), "\xEF\xBB\xBF{\"id\":\"a\",\"question\":\"q1\"}\r\n{\"question\":\"q2\"}\n");
  auto in = JsonlInputs::open(dir.file("in.jsonl"));
  REQUIRE(in.ok());
  auto first = (*in)->next();
  INFO((first.ok() ? std::string() : first.error().message));
  REQUIRE(first.ok());
  REQUIRE(*first);
  CHECK((*first)->item_id == "a");
  CHECK((*first)->question == "q1");
  CHECK((*first)->raw_json == "{\"id\":\"a\",\"question\":\"q1\"}");
  auto second = (*in)->next();
  REQUIRE(second.ok());
  REQUIRE(*second);
  CHECK((*second)->question == "q2");
  CHECK((*second)->item_id == "2");
  auto end = (*in)->next();
  REQUIRE(end.ok());
  CHECK_FALSE(*end);
}

TEST_CASE("a 50 MB input line is refused naming its line and the limit, in bounded memory", "[inputs]") {
  TempDir dir;
  {
    std::ofstream out(dir.file("big.jsonl"), std::ios::binary);
    out << "{\"question\":\"small\"}\n{\"question\":\"";
    std::string chunk(1 << 20, 'x');
    for (int i = 0; i < 50; ++i) out << chunk;  // 50 MiB, written in pieces
    out << "\"}\n{\"question\":\"after\"}\n";
  }
  long before = max_rss_kb();
  CHECK(count_input_lines(dir.file("big.jsonl")) == 3);
  auto in = JsonlInputs::open(dir.file("big.jsonl"));
  REQUIRE(in.ok());
  auto first = (*in)->next();
  REQUIRE(first.ok());
  CHECK((*first)->question == "small");
  auto big = (*in)->next();
  REQUIRE_FALSE(big.ok());
  CHECK(big.error().code == ErrorCode::parse);
  CHECK(big.error().message.rfind(dir.file("big.jsonl") + ":2: line longer than the limit of " +
                                      std::to_string(kMaxInputLineBytes) + " bytes",
                                  0) == 0);
  // The reader goes on after the refused line.
  auto after = (*in)->next();
  REQUIRE(after.ok());
  REQUIRE(*after);
  CHECK((*after)->question == "after");
  // At most one line of the limit was held (16 MiB, plus string growth).
  // Under ASan freed buffers stay in its quarantine and count as resident,
  // so peak RSS says nothing about what the reader held there.
#if defined(__SANITIZE_ADDRESS__)
  (void)before;
  WARN("peak-RSS check skipped under AddressSanitizer (its quarantine keeps freed buffers resident)");
#else
  CHECK(max_rss_kb() - before < 40 * 1024);
#endif
}

TEST_CASE("LineReader: a line of exactly the limit reads, one byte more does not", "[inputs]") {
  std::istringstream text("0123456789\n0123456789A\nlast");
  LineReader lines(text, "t.jsonl", 10);
  auto a = lines.next();
  REQUIRE(a.ok());
  CHECK(**a == "0123456789");
  auto b = lines.next();
  REQUIRE_FALSE(b.ok());
  CHECK(b.error().message ==
        "t.jsonl:2: line longer than the limit of 10 bytes (one JSON object per line; split the item or shorten it)");
  auto c = lines.next();
  REQUIRE(c.ok());
  CHECK(**c == "last");
  CHECK(lines.line_no() == 3);
  auto end = lines.next();
  REQUIRE(end.ok());
  CHECK_FALSE(*end);
}
