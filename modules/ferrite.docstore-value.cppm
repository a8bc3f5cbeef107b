// ferrite.docstore:value — documents as values: ferrite's deterministic CBOR
// subset (docs/FORMAT.md §8), a reader that validates before it exposes
// anything, a writer into caller storage, the total order queries and indexes
// use, and JSON text on hosts.
//
// The codec is part of the database: it never allocates, never throws, and
// walks nested containers with an explicit stack (no recursion), so a
// hostile document cannot exhaust the stack. `Value` is the one owning,
// heap-using type here, for hosts and tests.
module;
#include "ferrite_std.hpp"

export module ferrite.docstore:value;
import ferrite.core;

export namespace ferrite::doc {

enum class Type : std::uint8_t { null, boolean, integer, real, string, bytes, array, object };
/// "null", "bool", "int", "double", "string", "bytes", "array", "object".
[[nodiscard]] const char* type_name(Type t) noexcept;

/// The deepest nesting parse() accepts whatever Limits say (its explicit
/// stack has this many entries).
inline constexpr std::uint32_t max_parse_depth = 64;

/// Bounds a document must respect; parse() and the JSON reader enforce them.
struct Limits {
  /// Nesting of arrays and objects (the top level is depth 1). parse() caps
  /// it at max_parse_depth; the Writer (and so json_to_cbor and canonical())
  /// nests at most 16 containers.
  std::uint32_t max_depth = 16;
  std::uint32_t max_size = 32767;    ///< bytes of the encoded document
  std::uint32_t max_items = 4096;    ///< entries of one array or object
};

/// A read-only view of one data item of ferrite's CBOR subset (docs/FORMAT.md
/// §8): major types 0-5 and 7 (false, true, null, half/single/double floats),
/// definite lengths, integers in int64 range, valid UTF-8 text, object keys
/// that are text and unique. A View only comes from parse() (which validated
/// the whole item) or from a validated parent, so its accessors never meet
/// malformed bytes. It borrows the bytes it was parsed from.
class View {
 public:
  /// An invalid view (what lookups of absent members return).
  View() noexcept = default;
  /// Validates `bytes` as exactly one data item. Errors: corrupt (truncated,
  /// trailing bytes, reserved or malformed heads), invalid_argument (tags,
  /// indefinite lengths, undefined/simple values, integers outside int64,
  /// invalid UTF-8, non-text or duplicate object keys), too_large (a limit).
  static Result<View> parse(std::span<const std::byte> bytes, const Limits& limits = {}) noexcept;

  bool valid() const noexcept { return !raw_.empty(); }
  Type type() const noexcept { return type_; }
  bool is_number() const noexcept { return type_ == Type::integer || type_ == Type::real; }

  bool boolean() const noexcept;
  std::int64_t integer() const noexcept;
  double real() const noexcept;
  /// An integer or a real as a double.
  double number() const noexcept;
  std::string_view string() const noexcept;
  std::span<const std::byte> bytes() const noexcept;
  /// Elements of an array, members of an object, 0 otherwise.
  std::uint32_t size() const noexcept;

  /// The encoded item (as stored, head included).
  std::span<const std::byte> raw() const noexcept { return raw_; }

  /// Element `i` of an array (invalid when out of range or not an array).
  View at(std::uint32_t i) const noexcept;
  /// Member `key` of an object (invalid when absent or not an object).
  View get(std::string_view key) const noexcept;
  /// Follows a dotted path ("a.b.0.c": object members, or array positions
  /// when the component is a decimal index). Invalid when any step is absent.
  /// An empty path is the view itself.
  View path(std::string_view dotted) const noexcept;

  /// Walks the children of an array or an object in order.
  class Children;
  Children children() const noexcept;

 private:
  friend class Writer;
  View(std::span<const std::byte> raw, Type t) noexcept : raw_(raw), type_(t) {}
  std::span<const std::byte> raw_{};
  Type type_ = Type::null;
};

/// Walks the children of an array or an object in order.
class View::Children {
 public:
  /// Advances; false at the end. For objects key() names the member.
  bool next() noexcept;
  std::string_view key() const noexcept { return key_; }
  const View& value() const noexcept { return value_; }

 private:
  friend class View;
  std::span<const std::byte> rest_{};
  std::uint32_t left_ = 0;
  bool object_ = false;
  std::string_view key_{};
  View value_{};
};

/// Total order of values (queries, sorts, index keys): null < numbers <
/// strings < bytes < booleans < arrays < objects. Numbers compare by value
/// whatever their encoding (1 == 1.0; NaN sorts after every other number and
/// equals itself); strings and bytes bytewise; false < true; arrays and
/// objects element by element, then by size. Invalid views sort first.
[[nodiscard]] int compare(const View& a, const View& b) noexcept;
/// A type's place in that order (0 null, 1 numbers, 2 strings, 3 bytes,
/// 4 booleans, 5 arrays, 6 objects): comparisons in queries stay within one.
[[nodiscard]] int type_rank(Type t) noexcept;
[[nodiscard]] inline bool equal(const View& a, const View& b) noexcept { return compare(a, b) == 0; }

/// Writes canonical CBOR (docs/FORMAT.md §8: shortest heads, the shortest
/// float that keeps the value, reals stay reals) into caller storage. Never
/// allocates. Containers are written either with a known count (array(n),
/// object(n)) or open-ended (begin_array()/begin_object() ... end(), which
/// patches the count in place). Errors are sticky: after a failure every call
/// is a no-op and status() reports it: buffer_too_small (out of room),
/// invalid_argument (end() without an open container, a member without a
/// key, counts that do not match), too_large (nesting deeper than 16 open
/// containers).
class Writer {
 public:
  explicit Writer(std::span<std::byte> out) noexcept : out_(out) {}

  Writer& null() noexcept;
  Writer& boolean(bool v) noexcept;
  Writer& integer(std::int64_t v) noexcept;
  Writer& real(double v) noexcept;
  Writer& string(std::string_view v) noexcept;
  Writer& bytes(std::span<const std::byte> v) noexcept;
  /// An object member's key (a text item).
  Writer& key(std::string_view k) noexcept { return string(k); }
  Writer& array(std::uint32_t n) noexcept;
  Writer& object(std::uint32_t n) noexcept;
  Writer& begin_array() noexcept;
  Writer& begin_object() noexcept;
  Writer& end() noexcept;
  /// Copies an item in canonical form (a View parsed from non-canonical
  /// bytes is re-encoded).
  Writer& value(const View& v) noexcept;

  Status status() const noexcept { return status_of(error_); }
  std::size_t size() const noexcept { return used_; }
  /// The bytes written so far (a complete document once every container is closed).
  std::span<const std::byte> written() const noexcept { return {out_.data(), used_}; }
  /// The written document, validated. Errors: as status(), invalid_argument
  /// while a container is open.
  Result<View> finish() noexcept;

 private:
  void head(std::uint8_t major, std::uint64_t n) noexcept;
  void put(std::span<const std::byte> b) noexcept;
  void counted() noexcept;   // one more item in the innermost open container
  bool ready(bool text) noexcept;  // not failed, and this item may come next (keys are text)
  bool room(std::size_t payload) noexcept;  // a string's head and payload fit (else nothing is written)
  void finished() noexcept;  // an item is complete: close known-count containers it fills
  void error(Errc e) noexcept { if (error_ == Errc::ok) error_ = e; }
  struct Open {
    std::uint32_t at = 0;      // offset of the container's head
    std::uint32_t count = 0;   // items written (members count two for objects)
    std::uint32_t expected = 0xFFFFFFFFu;  // known count (items), or open-ended
    bool object = false;
  };
  std::span<std::byte> out_;
  std::size_t used_ = 0;
  std::array<Open, 16> open_{};
  std::uint8_t depth_ = 0;
  Errc error_ = Errc::ok;
};

/// Re-encodes `v` canonically into `out` (see Writer). Returns the size.
[[nodiscard]] Result<std::size_t> canonical(const View& v, std::span<std::byte> out) noexcept;

/// An owning document tree for hosts and tests (uses the heap). Objects keep
/// member order; set() replaces a member in place.
class Value {
 public:
  Value() noexcept = default;  // null
  static Value of_bool(bool v);
  static Value of_int(std::int64_t v);
  static Value of_real(double v);
  static Value of_string(std::string_view v);
  static Value of_bytes(std::span<const std::byte> v);
  static Value array();
  static Value object();
  /// Decodes a validated view.
  static Value from(const View& v);

  Type type() const noexcept { return type_; }
  bool boolean() const noexcept { return b_; }
  std::int64_t integer() const noexcept { return i_; }
  double real() const noexcept { return d_; }
  const std::string& string() const noexcept { return s_; }   // string, or bytes as chars
  const std::vector<Value>& elements() const noexcept { return items_; }
  const std::vector<std::pair<std::string, Value>>& members() const noexcept { return members_; }

  Value& push(Value v);                       ///< appends to an array; returns *this
  Value& set(std::string_view key, Value v);  ///< sets an object member; returns *this
  bool erase(std::string_view key);           ///< removes an object member
  const Value* find(std::string_view key) const noexcept;
  Value* find(std::string_view key) noexcept;

  /// Canonical CBOR. Errors: too_large (deeper than the Writer allows).
  Result<std::vector<std::byte>> encode() const;
  /// Structural equality: same types, same member order; reals are equal
  /// when bitwise equal or both NaN. Unlike compare(), 1 != 1.0 and
  /// -0.0 != 0.0 here.
  friend bool operator==(const Value& a, const Value& b) noexcept;

 private:
  Type type_ = Type::null;
  bool b_ = false;
  std::int64_t i_ = 0;
  double d_ = 0;
  std::string s_;
  std::vector<Value> items_;
  std::vector<std::pair<std::string, Value>> members_;
};

/// Where a JSON text is wrong: 1-based line and column of the offending byte.
struct TextError {
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  const char* reason = "";    ///< a short static sentence, e.g. "duplicate key"
};

/// Whether this build reads and writes JSON text (hosts with RapidJSON).
[[nodiscard]] bool json_available() noexcept;

/// Parses one JSON text into canonical CBOR in `out` and returns its size.
/// Integers that fit int64 stay integers, other numbers become reals. Errors
/// (with `where` filled when given): invalid_argument (malformed JSON,
/// invalid UTF-8, duplicate keys), too_large (a limit, `where->reason` says
/// which), buffer_too_small, unsupported (a build without JSON).
[[nodiscard]] Result<std::size_t> json_to_cbor(std::string_view json, std::span<std::byte> out,
                                               const Limits& limits = {}, TextError* where = nullptr) noexcept;
/// JSON text of a validated document: reals keep a fraction or exponent
/// ("1.0"), non-finite reals are null, bytes are base64url strings.
/// Errors: unsupported (a build without JSON).
[[nodiscard]] Result<std::string> cbor_to_json(const View& v);

}  // namespace ferrite::doc

// Not exported: helpers the implementation units share. They read items
// that parse() already validated, so they do no bounds checks.
namespace ferrite::doc::detail {

/// A decoded head: major type, additional info, argument, head length.
struct Head {
  std::uint8_t major = 0;
  std::uint8_t info = 0;
  std::uint64_t arg = 0;
  std::uint32_t size = 1;
};
/// The head at `p` of a validated item.
Head head_at(const std::byte* p) noexcept;
/// The type of a validated item whose head is `h`.
Type type_of(const Head& h) noexcept;
/// The offset just past the validated item that starts at `pos` of `bytes`.
std::size_t item_end(std::span<const std::byte> bytes, std::size_t pos) noexcept;
/// The value of a validated float item (major 7, info 25..27).
double real_at(const std::byte* p, const Head& h) noexcept;
/// Whether `s` is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view s) noexcept;
/// -1, 0 or 1: integer `i` against real `d` by exact value (NaN above all).
int compare_int_real(std::int64_t i, double d) noexcept;

}  // namespace ferrite::doc::detail
