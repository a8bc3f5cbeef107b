// ferrite.docstore:query — what a find, count, update or remove selects: a
// small typed query builder (and MongoDB-style JSON text on hosts), the find
// options (sort, skip, limit, projection) and the plan the planner chose.
//
// A Query is a value of fixed size (no heap): up to 32 nodes and 512 bytes of
// paths and operands. Building past that marks the query too_large, and
// every call that uses it answers Errc::too_large.
module;
#include "ferrite_std.hpp"

export module ferrite.docstore:query;
import ferrite.core;
import :value;

export namespace ferrite::doc {

/// One operand of a predicate: a scalar, or a document value.
class Operand {
 public:
  Operand(std::nullptr_t) noexcept : kind_(Type::null) {}
  Operand(bool v) noexcept : kind_(Type::boolean), b_(v) {}
  Operand(int v) noexcept : kind_(Type::integer), i_(v) {}
  Operand(long v) noexcept : kind_(Type::integer), i_(v) {}
  Operand(long long v) noexcept : kind_(Type::integer), i_(v) {}
  Operand(unsigned v) noexcept : kind_(Type::integer), i_(v) {}
  Operand(double v) noexcept : kind_(Type::real), d_(v) {}
  Operand(std::string_view v) noexcept : kind_(Type::string), s_(v) {}
  Operand(const char* v) noexcept : kind_(Type::string), s_(v) {}
  /// A value of any type (arrays and objects compare as whole values).
  Operand(const View& v) noexcept : kind_(v.type()), view_(v), is_view_(true) {}
  /// Bytes (a byte string, not text).
  static Operand of_bytes(std::span<const std::byte> b) noexcept {
    Operand o(nullptr);
    o.kind_ = Type::bytes;
    o.s_ = {reinterpret_cast<const char*>(b.data()), b.size()};
    return o;
  }
  /// Writes the operand as one CBOR item.
  void write(Writer& w) const noexcept;

 private:
  Type kind_;
  bool b_ = false;
  std::int64_t i_ = 0;
  double d_ = 0;
  std::string_view s_{};
  View view_{};
  bool is_view_ = false;
};

/// Predicate and combinator kinds (a Query's node codes).
enum class Op : std::uint8_t {
  all,       ///< matches every document
  eq, ne, gt, gte, lt, lte,
  in, nin,   ///< operand: an array of values
  exists,    ///< operand: true (the path is present) or false (absent)
  prefix,    ///< strings (or bytes) that start with the operand
  regex,     ///< POSIX extended regular expression on strings (hosts only)
  and_, or_, not_,
};
[[nodiscard]] const char* op_name(Op op) noexcept;

/// A query: a tree of predicates on dotted paths. Semantics (docs/DOCSTORE.md):
/// a path that meets an array applies the rest of the path to each element,
/// and a predicate matches when any value reached satisfies it (an `eq` on an
/// array field matches an element, or the whole array). Comparisons gt, gte,
/// lt, lte match values of the operand's type class only (numbers with
/// numbers, strings with strings, ...). `ne`/`nin` match when no value
/// reached is equal (a missing path included). `eq null` matches an explicit
/// null only; use `exists(false)` for missing paths.
class Query {
 public:
  static constexpr std::size_t max_nodes = 32;
  static constexpr std::size_t max_pool = 512;
  static constexpr std::size_t max_path = 64;

  /// Matches every document.
  Query() noexcept;

  /// Starts a predicate on `path`: `Query::path("vitals.hr").gt(100)`.
  class PathRef {
   public:
    Query eq(const Operand& v) const noexcept { return make(Op::eq, v); }
    Query ne(const Operand& v) const noexcept { return make(Op::ne, v); }
    Query gt(const Operand& v) const noexcept { return make(Op::gt, v); }
    Query gte(const Operand& v) const noexcept { return make(Op::gte, v); }
    Query lt(const Operand& v) const noexcept { return make(Op::lt, v); }
    Query lte(const Operand& v) const noexcept { return make(Op::lte, v); }
    Query in(std::initializer_list<Operand> vs) const noexcept { return make_list(Op::in, vs); }
    Query nin(std::initializer_list<Operand> vs) const noexcept { return make_list(Op::nin, vs); }
    /// `in`/`nin` with an array value (e.g. parsed from JSON).
    Query in(const View& array) const noexcept { return make(Op::in, array); }
    Query nin(const View& array) const noexcept { return make(Op::nin, array); }
    Query exists(bool present = true) const noexcept { return make(Op::exists, present); }
    /// A string (or bytes) operand: values of that type that start with it.
    Query prefix(const Operand& p) const noexcept { return make(Op::prefix, p); }
    Query regex(std::string_view pattern) const noexcept { return make(Op::regex, pattern); }
    /// start <= path <= end (Unosql's get_records_in_timeframe is inclusive).
    Query between(const Operand& start, const Operand& end) const noexcept;

   private:
    friend class Query;
    explicit PathRef(std::string_view p) noexcept : path_(p) {}
    Query make(Op op, const Operand& v) const noexcept;
    Query make_list(Op op, std::initializer_list<Operand> vs) const noexcept;
    std::string_view path_;
  };
  static PathRef path(std::string_view dotted) noexcept { return PathRef(dotted); }

  friend Query operator&&(const Query& a, const Query& b) noexcept { return combine(Op::and_, a, b); }
  friend Query operator||(const Query& a, const Query& b) noexcept { return combine(Op::or_, a, b); }
  friend Query operator!(const Query& a) noexcept;

  /// Parses MongoDB-style JSON text (hosts): `{"age": {"$gt": 30}, "city": "Oslo"}`,
  /// operators $eq $ne $gt $gte $lt $lte $in $nin $exists $prefix $regex, and
  /// $and/$or (arrays of queries) and $not (a query). Errors: invalid_argument
  /// (malformed JSON or an unknown operator; `where` says where), too_large,
  /// unsupported (a build without JSON).
  static Result<Query> from_json(std::string_view json, TextError* where = nullptr) noexcept;
  /// The same from a CBOR document of that shape.
  static Result<Query> from_document(const View& doc) noexcept;

  /// Errc::ok, or too_large when the builder ran out of room, or
  /// invalid_argument for an empty or over-long path.
  Errc error() const noexcept { return error_; }
  bool matches_all() const noexcept { return count_ == 1 && nodes_[0].op == Op::all; }

  // -- reading the tree (planner, evaluator, tests) -------------------------
  struct Node {
    Op op = Op::all;
    std::uint8_t children = 0;     ///< and/or/not: how many nodes follow as children
    std::uint16_t path_at = 0, path_size = 0;
    std::uint16_t value_at = 0, value_size = 0;
    std::uint16_t span = 1;        ///< nodes in this subtree, itself included
  };
  std::size_t node_count() const noexcept { return count_; }
  const Node& node(std::size_t i) const noexcept { return nodes_[i]; }
  std::string_view path_of(const Node& n) const noexcept {
    return {reinterpret_cast<const char*>(pool_.data()) + n.path_at, n.path_size};
  }
  /// The operand (validated when the node was built).
  View value_of(const Node& n) const noexcept;
  /// Whether two subtrees are the same predicate (partial-index implication).
  bool same_subtree(std::size_t i, const Query& other, std::size_t j) const noexcept;
  /// The predicates that must all hold: the root's children when it is an
  /// `and`, else the root. Calls f(node index) for each.
  template <class F>
  void for_each_conjunct(F&& f) const noexcept {
    if (count_ == 0) return;
    if (nodes_[0].op != Op::and_) {
      f(std::size_t{0});
      return;
    }
    for (std::size_t i = 1; i < count_; i += nodes_[i].span) f(i);
  }

 private:
  static Query combine(Op op, const Query& a, const Query& b) noexcept;
  bool append_subtree(const Query& q, std::size_t from) noexcept;
  std::uint16_t add_bytes(std::span<const std::byte> b) noexcept;

  std::array<Node, max_nodes> nodes_{};
  std::array<std::byte, max_pool> pool_{};
  std::uint16_t count_ = 0;
  std::uint16_t pool_used_ = 0;
  Errc error_ = Errc::ok;
  friend class QueryBuilder;
};

/// Whether `doc` satisfies `q` (the residual filter; exact). Regex nodes
/// answer false in builds without regex support.
[[nodiscard]] bool matches(const Query& q, const View& doc) noexcept;
/// Whether this build evaluates `regex` (POSIX hosts); elsewhere a query
/// with a regex answers unsupported.
[[nodiscard]] bool regex_supported() noexcept;

enum class Order : std::uint8_t { ascending, descending };

/// How find presents its results.
struct FindOptions {
  std::uint32_t skip = 0;
  std::uint32_t limit = 0;              ///< 0: no limit
  std::string_view sort_path{};         ///< empty: the planner's natural order (_id, or the index's)
  Order order = Order::ascending;
  /// Include-list projection: only these paths (and _id) are returned; empty: whole documents.
  std::array<std::string_view, 8> fields{};
  std::uint8_t field_count = 0;
  /// Ignore indexes (a forced collection scan; tests compare plans with it).
  bool no_index = false;
};

/// The access path the planner chose (explain() returns it; tests assert it).
struct Plan {
  enum class Access : std::uint8_t { collection_scan, id_range, index_range };
  enum class Sort : std::uint8_t { none, natural, top_k };
  Access access = Access::collection_scan;
  Sort sort = Sort::none;
  std::array<char, 32> index{};        ///< index name (index_range)
  std::uint8_t eq_prefix = 0;          ///< leading index paths fixed by equality
  bool reverse = false;                ///< walks the access path backwards
  std::uint32_t ranges = 0;            ///< key ranges walked (`in` makes several)
  std::uint32_t estimated_keys = 0;    ///< keys inside the ranges (count_range), 0 for scans
  std::uint32_t skip = 0, limit = 0;
  std::string_view index_name() const noexcept { return {index.data(), std::strlen(index.data())}; }
};
[[nodiscard]] const char* access_name(Plan::Access a) noexcept;

}  // namespace ferrite::doc
