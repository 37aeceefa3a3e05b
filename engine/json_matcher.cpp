// The JSON grammar's matcher (JsonMatcher in json_grammar.hpp): a byte-level
// pushdown automaton over a compiled grammar, following up to kMaxPaths
// anyOf alternatives at once. The schema compiler is json_grammar.cpp.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/json_grammar.hpp"
#include "engine/json_grammar_detail.hpp"

namespace troupe::engine {

using namespace json_grammar_detail;

namespace {

enum FrameType : uint8_t { F_VALUE, F_OBJ, F_ARR, F_STR, F_KEY, F_NUM, F_LIT };
enum Phase : uint8_t { P_PREFIX, P_JSON, P_SUFFIX, P_DONE };
// Object states.
enum : uint8_t { O_FIRST, O_KEY, O_COLON, O_VALUE, O_AFTER };
// Array states.
enum : uint8_t { A_FIRST, A_VALUE, A_AFTER };
// String states.
enum : uint8_t { S_CHARS, S_ESC, S_U1, S_U2, S_U3, S_U4 };
// Number states.
enum : uint8_t { N_SIGN, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
bool is_hex(uint8_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool number_complete(uint8_t sub) { return sub == N_ZERO || sub == N_INT || sub == N_FRAC || sub == N_EXP; }

}  // namespace

JsonMatcher::JsonMatcher(std::shared_ptr<const JsonGrammar> grammar) : g_(std::move(grammar)) {
  Path p;
  p.phase = P_PREFIX;
  if (g_->prefix().empty()) {
    p.phase = P_JSON;
    Frame f;
    f.type = F_VALUE;
    f.node = g_->root();
    p.stack.push_back(f);
  }
  paths_.push_back(std::move(p));
}

void JsonMatcher::value_done(Path& p) const {
  if (!p.stack.empty()) return;
  p.pos = 0;
  p.phase = g_->suffix().empty() ? P_DONE : P_SUFFIX;
}

bool JsonMatcher::step(Path& p, uint8_t c, std::vector<Path>& forks) const {
  const auto& nodes = g_->nodes();
  for (;;) {
    if (p.phase == P_PREFIX) {
      const std::string& s = g_->prefix();
      if (static_cast<uint8_t>(s[static_cast<size_t>(p.pos)]) != c) return false;
      if (static_cast<size_t>(++p.pos) == s.size()) {
        p.phase = P_JSON;
        Frame f;
        f.type = F_VALUE;
        f.node = g_->root();
        p.stack.push_back(f);
      }
      return true;
    }
    if (p.phase == P_SUFFIX) {
      const std::string& s = g_->suffix();
      if (static_cast<uint8_t>(s[static_cast<size_t>(p.pos)]) != c) return false;
      if (static_cast<size_t>(++p.pos) == s.size()) p.phase = P_DONE;
      return true;
    }
    if (p.phase == P_DONE) return false;
    Frame& f = p.stack.back();
    const JsonGrammar::Node& n = nodes[static_cast<size_t>(f.node)];
    auto take_ws = [&]() {
      if (p.ws >= kMaxWhitespace) return false;
      ++p.ws;
      return true;
    };
    if (f.type != F_STR && f.type != F_KEY && f.type != F_NUM && f.type != F_LIT) {
      if (is_ws(c)) return take_ws();
      p.ws = 0;
    }
    switch (f.type) {
      case F_VALUE: {
        if (n.kind == K::any_of) {
          // Each alternative is its own path; the first continues in place.
          for (size_t i = 1; i < n.alts.size(); ++i) {
            if (forks.size() >= kMaxPaths) break;
            Path q = p;
            q.stack.back().node = n.alts[i];
            if (step(q, c, forks)) forks.push_back(std::move(q));
          }
          f.node = n.alts[0];
          continue;
        }
        switch (n.kind) {
          case K::object:
            if (c != '{') return false;
            f.type = F_OBJ;
            f.sub = O_FIRST;
            f.seen = 0;
            f.count = 0;
            return true;
          case K::array:
            if (c != '[') return false;
            f.type = F_ARR;
            f.sub = A_FIRST;
            f.count = 0;
            return true;
          case K::string:
            if (c != '"') return false;
            f.type = F_STR;
            f.sub = S_CHARS;
            f.count = 0;
            f.pending = 0;
            return true;
          case K::number:
          case K::integer:
            if (c == '-') {
              f.type = F_NUM;
              f.sub = N_SIGN;
              f.count = 0;
              return true;
            }
            if (!is_digit(c)) return false;
            f.type = F_NUM;
            f.sub = c == '0' ? N_ZERO : N_INT;
            f.count = 1;
            return true;
          case K::literals: {
            int32_t lo = -1, hi = -1;
            for (size_t i = 0; i < n.literals.size(); ++i) {
              if (static_cast<uint8_t>(n.literals[i][0]) == c) {
                if (lo < 0) lo = static_cast<int32_t>(i);
                hi = static_cast<int32_t>(i) + 1;
              }
            }
            if (lo < 0) return false;
            f.type = F_LIT;
            f.lo = lo;
            f.hi = hi;
            f.pos = 1;
            if (hi - lo == 1 && n.literals[static_cast<size_t>(lo)].size() == 1) {
              // A one-byte literal alone in range is complete at once, unless
              // it could go on as a number; literals never do.
              p.stack.pop_back();
              value_done(p);
            }
            return true;
          }
          case K::any_of: return false;
        }
        return false;
      }
      case F_OBJ: {
        switch (f.sub) {
          case O_FIRST:
          case O_AFTER:
            if (c == '}') {
              if ((f.seen & n.required) != n.required) return false;
              p.stack.pop_back();
              value_done(p);
              return true;
            }
            if (f.sub == O_AFTER) {
              if (c != ',') return false;
              if (!n.prop_names.empty() && std::popcount(f.seen) >= static_cast<int>(n.prop_names.size())) return false;
              f.sub = O_KEY;
              return true;
            }
            if (n.closed) return false;
            [[fallthrough]];
          case O_KEY: {
            if (c != '"') return false;
            Frame k;
            k.type = F_KEY;
            k.node = f.node;
            k.pos = 0;
            k.lo = 0;
            k.hi = static_cast<int32_t>(n.prop_names.size());
            if (n.prop_names.empty()) k.lo = k.hi = -1;  // any key
            f.sub = O_COLON;
            p.stack.push_back(k);
            return true;
          }
          case O_COLON: {
            if (c != ':') return false;
            f.sub = O_AFTER;
            Frame v;
            v.type = F_VALUE;
            v.node = n.prop_names.empty() ? n.value_node : n.prop_nodes[static_cast<size_t>(f.pos)];
            p.stack.push_back(v);
            return true;
          }
        }
        return false;
      }
      case F_ARR: {
        if (c == ']' && f.sub != A_VALUE) {
          if (f.count < n.min_count) return false;
          p.stack.pop_back();
          value_done(p);
          return true;
        }
        if (f.sub == A_AFTER) {
          if (c != ',') return false;
          if (n.max_count >= 0 && f.count >= n.max_count) return false;
          f.sub = A_VALUE;
          return true;
        }
        if (n.max_count >= 0 && f.count >= n.max_count) return false;
        f.sub = A_AFTER;
        f.count += 1;
        Frame v;
        v.type = F_VALUE;
        v.node = n.value_node;
        p.stack.push_back(v);
        continue;  // the value starts with this byte
      }
      case F_KEY: {
        if (f.lo < 0) {
          // Any key: a plain string; on close the object expects ':'.
          f.type = F_STR;
          f.node = kAnyString;
          f.sub = S_CHARS;
          f.count = 0;
          f.pending = 0;
          f.seen = 1;  // marks a key string
          continue;
        }
        if (c == '"') {
          const std::string& name = n.prop_names[static_cast<size_t>(f.lo)];
          if (static_cast<int32_t>(name.size()) != f.pos) return false;
          Frame& obj = p.stack[p.stack.size() - 2];
          if (obj.seen & (uint64_t{1} << f.lo)) return false;
          obj.seen |= uint64_t{1} << f.lo;
          obj.pos = f.lo;
          p.stack.pop_back();
          return true;
        }
        if (c < 0x20 || c == '\\') return false;
        const Frame& obj = p.stack[p.stack.size() - 2];
        int32_t lo = -1, hi = -1;
        bool unseen = false;
        for (int32_t i = f.lo; i < f.hi; ++i) {
          const std::string& name = n.prop_names[static_cast<size_t>(i)];
          if (static_cast<int32_t>(name.size()) > f.pos && static_cast<uint8_t>(name[static_cast<size_t>(f.pos)]) == c) {
            if (lo < 0) lo = i;
            hi = i + 1;
            if (!(obj.seen & (uint64_t{1} << i))) unseen = true;
          }
        }
        if (lo < 0 || !unseen) return false;
        f.lo = lo;
        f.hi = hi;
        f.pos += 1;
        return true;
      }
      case F_STR: {
        switch (f.sub) {
          case S_CHARS:
            if (f.pending > 0) {
              if (c < f.next_lo || c > f.next_hi) return false;
              --f.pending;
              f.next_lo = 0x80;
              f.next_hi = 0xBF;
              return true;
            }
            if (c == '"') {
              if (f.count < n.min_count) return false;
              const bool key = f.seen == 1;
              p.stack.pop_back();
              if (!key) value_done(p);
              return true;
            }
            if (c < 0x20 || c == 0x7F) return false;
            if (n.max_count >= 0 && f.count >= n.max_count) return false;
            if (c == '\\') {
              f.sub = S_ESC;
              return true;
            }
            if (c >= 0x80) {
              // Well-formed UTF-8 only (no overlongs, surrogates or code
              // points past U+10FFFF): the second byte's range depends on
              // the first.
              f.next_lo = 0x80;
              f.next_hi = 0xBF;
              if (c >= 0xC2 && c <= 0xDF) {
                f.pending = 1;
              } else if (c >= 0xE0 && c <= 0xEF) {
                f.pending = 2;
                if (c == 0xE0) f.next_lo = 0xA0;
                if (c == 0xED) f.next_hi = 0x9F;
              } else if (c >= 0xF0 && c <= 0xF4) {
                f.pending = 3;
                if (c == 0xF0) f.next_lo = 0x90;
                if (c == 0xF4) f.next_hi = 0x8F;
              } else {
                return false;
              }
            }
            f.count += 1;
            return true;
          case S_ESC:
            if (c == 'u') {
              f.sub = S_U1;
              return true;
            }
            if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' && c != 'r' && c != 't')
              return false;
            f.sub = S_CHARS;
            f.count += 1;
            return true;
          case S_U1:
            if (!is_hex(c)) return false;
            f.lo = (c == 'd' || c == 'D') ? 1 : 0;
            f.sub = S_U2;
            return true;
          case S_U2:
            if (!is_hex(c)) return false;
            if (f.lo == 1 && !(is_digit(c) && c < '8')) return false;  // no surrogates
            f.sub = S_U3;
            return true;
          case S_U3:
            if (!is_hex(c)) return false;
            f.sub = S_U4;
            return true;
          case S_U4:
            if (!is_hex(c)) return false;
            f.sub = S_CHARS;
            f.count += 1;
            return true;
        }
        return false;
      }
      case F_NUM: {
        const bool integer = n.kind == K::integer;
        auto next = [&](uint8_t sub, int64_t count) {
          f.sub = sub;
          f.count = count;
          return true;
        };
        switch (f.sub) {
          case N_SIGN:
            if (is_digit(c)) return next(c == '0' ? N_ZERO : N_INT, 1);
            return false;
          case N_INT:
            if (is_digit(c)) {
              if (f.count >= kMaxIntDigits) return false;
              return next(N_INT, f.count + 1);
            }
            [[fallthrough]];
          case N_ZERO:
            if (!integer && c == '.') return next(N_DOT, 0);
            if (!integer && (c == 'e' || c == 'E')) return next(N_E, 0);
            break;
          case N_DOT:
            if (is_digit(c)) return next(N_FRAC, 1);
            return false;
          case N_FRAC:
            if (is_digit(c)) {
              if (f.count >= kMaxFracDigits) return false;
              return next(N_FRAC, f.count + 1);
            }
            if (c == 'e' || c == 'E') return next(N_E, 0);
            break;
          case N_E:
            if (c == '+' || c == '-') return next(N_ESIGN, 0);
            [[fallthrough]];
          case N_ESIGN:
            if (is_digit(c)) return next(N_EXP, 1);
            return false;
          case N_EXP:
            if (is_digit(c)) {
              if (f.count >= kMaxExpDigits) return false;
              return next(N_EXP, f.count + 1);
            }
            break;
        }
        if (!number_complete(f.sub)) return false;
        // The number ended; the byte belongs to what follows it.
        p.stack.pop_back();
        value_done(p);
        continue;
      }
      case F_LIT: {
        int32_t lo = -1, hi = -1;
        for (int32_t i = f.lo; i < f.hi; ++i) {
          const std::string& s = n.literals[static_cast<size_t>(i)];
          if (static_cast<int32_t>(s.size()) > f.pos && static_cast<uint8_t>(s[static_cast<size_t>(f.pos)]) == c) {
            if (lo < 0) lo = i;
            hi = i + 1;
          }
        }
        if (lo < 0) {
          // A complete literal (numbers: "1" before "12") ends here.
          if (static_cast<int32_t>(n.literals[static_cast<size_t>(f.lo)].size()) != f.pos) return false;
          p.stack.pop_back();
          value_done(p);
          continue;
        }
        f.lo = lo;
        f.hi = hi;
        f.pos += 1;
        if (hi - lo == 1 && static_cast<int32_t>(n.literals[static_cast<size_t>(lo)].size()) == f.pos) {
          p.stack.pop_back();
          value_done(p);
        }
        return true;
      }
    }
    return false;
  }
}

bool JsonMatcher::step_state(State& paths, uint8_t c) const {
  forks_.clear();
  size_t w = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    if (step(paths[i], c, forks_)) {
      if (w != i) std::swap(paths[w], paths[i]);
      ++w;
    }
  }
  paths.resize(w);
  for (auto& f : forks_) {
    if (paths.size() >= kMaxPaths) break;
    paths.push_back(std::move(f));
  }
  return !paths.empty();
}

bool JsonMatcher::feed_byte(uint8_t c) { return step_state(paths_, c); }

bool JsonMatcher::feed(std::string_view bytes) {
  std::vector<Path> saved = paths_;
  for (char ch : bytes) {
    if (!feed_byte(static_cast<uint8_t>(ch))) {
      paths_ = std::move(saved);
      return false;
    }
  }
  return true;
}

bool JsonMatcher::path_can_end(const Path& p) const {
  if (p.phase == P_DONE) return true;
  if (p.phase != P_JSON || !g_->suffix().empty() || p.stack.size() != 1) return false;
  const Frame& f = p.stack.back();
  if (f.type == F_NUM) return number_complete(f.sub);
  if (f.type == F_LIT) {
    const auto& n = g_->nodes()[static_cast<size_t>(f.node)];
    return static_cast<int32_t>(n.literals[static_cast<size_t>(f.lo)].size()) == f.pos;
  }
  return false;
}

bool JsonMatcher::can_end() const {
  return std::any_of(paths_.begin(), paths_.end(), [&](const Path& p) { return path_can_end(p); });
}

bool JsonMatcher::finished() const {
  return !paths_.empty() &&
         std::all_of(paths_.begin(), paths_.end(), [](const Path& p) { return p.phase == P_DONE; });
}

}  // namespace troupe::engine
