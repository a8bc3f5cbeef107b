// JSON text on hosts: RapidJSON's SAX Reader (iterative, validating UTF-8)
// streams straight into a Writer, with the limits and duplicate keys checked
// in the handler; the export is a small writer of our own over a validated
// View (no recursion either way).
//
// RapidJSON includes standard headers; ferrite_std.hpp already includes every
// one of them (so clang-16 + libstdc++ sees one include order in every module
// unit), which makes its own includes no-ops. RapidJSON never throws: its
// only failure path besides error codes is RAPIDJSON_ASSERT, which is
// assert() and so compiles without exceptions.
module;
#include "ferrite_modules.hpp"
#if FERRITE_HAVE_JSON
#include <rapidjson/reader.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/error/en.h>
#endif

module ferrite.docstore;

namespace ferrite::doc {

#if FERRITE_HAVE_JSON

bool json_available() noexcept { return true; }

namespace {

// The SAX handler: every event becomes a Writer call. Returning false stops
// the reader (kParseErrorTermination); err/reason then say why.
class Sax {
 public:
  Sax(Writer& w, const Limits& l) noexcept : w_(w), limits_(l) {}

  Errc err = Errc::ok;
  const char* reason = "";

  bool Null() { return value() && after(w_.null()); }
  bool Bool(bool b) { return value() && after(w_.boolean(b)); }
  bool Int(int i) { return value() && after(w_.integer(i)); }
  bool Uint(unsigned u) { return value() && after(w_.integer(u)); }
  bool Int64(std::int64_t i) { return value() && after(w_.integer(i)); }
  bool Uint64(std::uint64_t u) {
    // Beyond int64 a JSON integer becomes a real (rounded), like any number.
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return value() && after(w_.real(static_cast<double>(u)));
    return value() && after(w_.integer(static_cast<std::int64_t>(u)));
  }
  bool Double(double d) { return value() && after(w_.real(d)); }
  bool RawNumber(const char*, rapidjson::SizeType, bool) { return stop(Errc::invalid_argument, "unexpected number"); }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    return value() && after(w_.string({s, n}), "invalid UTF-8");
  }
  bool StartObject() { return open(true); }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    const std::string_view k(s, n);
    Level& l = levels_[depth_ - 1];
    if (++l.count > limits_.max_items) return stop(Errc::too_large, "too many members");
    if (duplicate(l.first, k)) return stop(Errc::invalid_argument, "duplicate key");
    return after(w_.key(k), "invalid UTF-8");
  }
  bool EndObject(rapidjson::SizeType) { return close(); }
  bool StartArray() { return open(false); }
  bool EndArray(rapidjson::SizeType) { return close(); }

 private:
  struct Level {
    std::uint32_t count = 0;   // elements, or members
    std::uint32_t first = 0;   // offset of an object's first member in the output
    bool object = false;
  };

  bool stop(Errc e, const char* why) {
    err = e;
    reason = why;
    return false;
  }

  // A value is one more element of an enclosing array (members count at their key).
  bool value() {
    if (depth_ > 0 && !levels_[depth_ - 1].object && ++levels_[depth_ - 1].count > limits_.max_items)
      return stop(Errc::too_large, "too many elements");
    return true;
  }

  // Checks the Writer and the size limit after a call.
  bool after(Writer& w, const char* invalid = "invalid document") {
    if (auto s = w.status(); !s) {
      if (s.error() == Errc::buffer_too_small) return stop(s.error(), "output buffer too small");
      if (s.error() == Errc::too_large) return stop(s.error(), "nested too deep");
      return stop(s.error(), invalid);
    }
    if (w.size() > limits_.max_size) return stop(Errc::too_large, "document too large");
    return true;
  }

  bool open(bool object) {
    if (!value()) return false;
    if (depth_ + 1u > std::min<std::uint32_t>(limits_.max_depth, static_cast<std::uint32_t>(levels_.size())))
      return stop(Errc::too_large, "nested too deep");
    const auto at = static_cast<std::uint32_t>(w_.size());
    if (!after(object ? w_.begin_object() : w_.begin_array())) return false;
    levels_[depth_++] = Level{0, at + 1, object};  // the placeholder head is one byte
    return true;
  }

  bool close() {
    --depth_;
    return after(w_.end());
  }

  // Whether `key` names a member already written in the object whose first
  // member starts at `first`. Quadratic per object, bounded by max_items.
  bool duplicate(std::uint32_t first, std::string_view key) const noexcept {
    const auto out = w_.written();
    std::size_t pos = first;
    while (pos < out.size()) {
      const auto h = detail::head_at(out.data() + pos);
      const std::string_view k(reinterpret_cast<const char*>(out.data() + pos + h.size), static_cast<std::size_t>(h.arg));
      if (k == key) return true;
      pos = detail::item_end(out, pos);
      pos = detail::item_end(out, pos);
    }
    return false;
  }

  Writer& w_;
  const Limits& limits_;
  std::array<Level, 16> levels_{};   // the Writer nests 16 containers at most
  std::uint32_t depth_ = 0;
};

// 1-based line and column (in bytes) of `offset` in `text`.
void locate(std::string_view text, std::size_t offset, TextError& where) noexcept {
  offset = std::min(offset, text.size());
  std::uint32_t line = 1;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  where.line = line;
  where.column = static_cast<std::uint32_t>(offset - line_start + 1);
}

}  // namespace

Result<std::size_t> json_to_cbor(std::string_view json, std::span<std::byte> out, const Limits& limits,
                                 TextError* where) noexcept {
  Writer w(out);
  Sax sax(w, limits);
  rapidjson::Reader reader;  // its token stack is on the heap: host builds only
  rapidjson::MemoryStream in(json.data(), json.size());
  constexpr unsigned flags =
      rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag | rapidjson::kParseFullPrecisionFlag;
  rapidjson::ParseResult r = reader.Parse<flags>(in, sax);
  // The stream answers '\0' at its end, so RapidJSON stops at a NUL byte
  // too: anything after it is trailing garbage.
  if (r && in.Tell() != json.size()) r.Set(rapidjson::kParseErrorDocumentRootNotSingular, in.Tell());
  if (r) return w.size();
  Errc e = Errc::invalid_argument;
  const char* why;
  if (r.Code() == rapidjson::kParseErrorTermination && sax.err != Errc::ok) {
    e = sax.err;
    why = sax.reason;
  } else if (r.Code() == rapidjson::kParseErrorStringInvalidEncoding) {
    why = "invalid UTF-8";
  } else {
    why = rapidjson::GetParseError_En(r.Code());
  }
  if (where) {
    locate(json, r.Offset(), *where);
    where->reason = why;
  }
  return fail(e);
}

namespace {

void put_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;  // UTF-8 passes through (validated by parse())
        }
    }
  }
  out += '"';
}

// RFC 4648 §5 base64url without padding. Written here rather than taken from
// libsodium, which is optional in the build.
void put_base64url(std::string& out, std::span<const std::byte> b) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  out += '"';
  std::size_t i = 0;
  for (; i + 3 <= b.size(); i += 3) {
    const unsigned v = std::to_integer<unsigned>(b[i]) << 16 | std::to_integer<unsigned>(b[i + 1]) << 8 |
                       std::to_integer<unsigned>(b[i + 2]);
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (const std::size_t rest = b.size() - i; rest > 0) {
    unsigned v = std::to_integer<unsigned>(b[i]) << 16;
    if (rest == 2) v |= std::to_integer<unsigned>(b[i + 1]) << 8;
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    if (rest == 2) out += alphabet[(v >> 6) & 63];
  }
  out += '"';
}

void put_int(std::string& out, std::int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Shortest text that reads back as the same double; a real keeps a fraction
// or an exponent so that it reads back as a real.
void put_real(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  char buf[40];
  const auto r = std::to_chars(buf, buf + sizeof buf, d);
  const std::string_view text(buf, static_cast<std::size_t>(r.ptr - buf));
  out += text;
  if (text.find_first_of(".e") == std::string_view::npos) out += ".0";
}

// The scalar at `p` (head `h`); returns the bytes its payload takes.
std::size_t put_scalar(std::string& out, const std::byte* p, const detail::Head& h) {
  const auto n = static_cast<std::size_t>(h.arg);
  switch (h.major) {
    case 0: put_int(out, static_cast<std::int64_t>(h.arg)); return 0;
    case 1: put_int(out, static_cast<std::int64_t>(~h.arg)); return 0;
    case 2: put_base64url(out, {p + h.size, n}); return n;
    case 3: put_string(out, {reinterpret_cast<const char*>(p + h.size), n}); return n;
    default: break;
  }
  if (h.info == 20) out += "false";
  else if (h.info == 21) out += "true";
  else if (h.info == 22) out += "null";
  else put_real(out, detail::real_at(p, h));
  return 0;
}

}  // namespace

Result<std::string> cbor_to_json(const View& v) {
  if (!v.valid()) return fail(Errc::invalid_argument);
  struct Level {
    std::uint64_t left;   // items still to write (members are two)
    std::uint64_t index;  // items written
    bool object;
  };
  std::vector<Level> stack;
  std::string out;
  const auto raw = v.raw();
  std::size_t pos = 0;
  do {
    if (!stack.empty()) {  // the separator before this item
      Level& l = stack.back();
      if (l.object && l.index % 2 == 1) out += ':';
      else if (l.index > 0) out += ',';
      ++l.index;
      --l.left;
    }
    const auto h = detail::head_at(raw.data() + pos);
    if (h.major == 4 || h.major == 5) {
      const bool object = h.major == 5;
      out += object ? '{' : '[';
      if (h.arg > 0) stack.push_back(Level{object ? 2 * h.arg : h.arg, 0, object});
      else out += object ? '}' : ']';
      pos += h.size;
    } else {
      pos += h.size + put_scalar(out, raw.data() + pos, h);
    }
    while (!stack.empty() && stack.back().left == 0) {
      out += stack.back().object ? '}' : ']';
      stack.pop_back();
    }
  } while (!stack.empty());
  return out;
}

#else  // FERRITE_HAVE_JSON

bool json_available() noexcept { return false; }

Result<std::size_t> json_to_cbor(std::string_view, std::span<std::byte>, const Limits&, TextError* where) noexcept {
  if (where) where->reason = "JSON is not in this build";
  return fail(Errc::unsupported);
}

Result<std::string> cbor_to_json(const View&) { return fail(Errc::unsupported); }

#endif  // FERRITE_HAVE_JSON

}  // namespace ferrite::doc
