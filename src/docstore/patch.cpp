// Updates: an RFC 7386 merge patch with two operator members, `$inc` (an
// object of dotted paths to numbers to add) and `$unset` (an array of dotted
// paths), written straight from the old document into the new one.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.docstore;

namespace ferrite {

namespace {

constexpr std::uint32_t max_patch_depth = 16;

bool reserved(std::string_view k) noexcept { return k == "_id" || k == "_ts" || k == "_v"; }

std::string_view first_component(std::string_view p) noexcept { return p.substr(0, p.find('.')); }

struct PathBuf {
  std::array<char, 160> bytes{};
  std::size_t size = 0;
  bool overflow = false;
  std::string_view view() const noexcept { return {bytes.data(), size}; }
};

PathBuf join(std::string_view prefix, std::string_view key) noexcept {
  PathBuf p;
  const std::size_t need = prefix.size() + (prefix.empty() ? 0 : 1) + key.size();
  if (need > p.bytes.size()) {
    p.overflow = true;
    return p;
  }
  if (!prefix.empty()) std::memcpy(p.bytes.data(), prefix.data(), prefix.size());  // (null when empty: UB)
  p.size = prefix.size();
  if (!prefix.empty()) p.bytes[p.size++] = '.';
  std::memcpy(p.bytes.data() + p.size, key.data(), key.size());
  p.size += key.size();
  return p;
}

struct Ops {
  doc::View inc;    // object: path -> number
  doc::View unset;  // array of paths, or object whose keys are paths
  Errc error = Errc::ok;

  bool unset_has(std::string_view path) const noexcept {
    if (!unset.valid()) return false;
    auto c = unset.children();
    while (c.next()) {
      const std::string_view p = unset.type() == doc::Type::object ? c.key() : c.value().string();
      if (p == path) return true;
    }
    return false;
  }
  doc::View delta(std::string_view path) const noexcept { return inc.valid() ? inc.get(path) : doc::View{}; }
  // Whether an operator targets something strictly below `path`.
  bool below(std::string_view path) const noexcept {
    auto under = [&](std::string_view p) noexcept {
      return p.size() > path.size() && p.substr(0, path.size()) == path && p[path.size()] == '.';
    };
    if (inc.valid()) {
      auto c = inc.children();
      while (c.next())
        if (under(c.key())) return true;
    }
    if (unset.valid()) {
      auto c = unset.children();
      while (c.next())
        if (under(unset.type() == doc::Type::object ? c.key() : c.value().string())) return true;
    }
    return false;
  }
};

void write_sum(doc::Writer& w, const doc::View& a, const doc::View& b, Ops& ops) noexcept {
  if (!a.is_number() || !b.is_number()) {
    ops.error = Errc::invalid_argument;  // $inc of something that is not a number
    return;
  }
  std::int64_t sum = 0;
  if (a.type() == doc::Type::integer && b.type() == doc::Type::integer &&
      !__builtin_add_overflow(a.integer(), b.integer(), &sum)) {
    w.integer(sum);
    return;
  }
  w.real(a.number() + b.number());
}

void write_members(doc::Writer& w, const doc::View& target, const doc::View& patch, std::string_view prefix,
                   Ops& ops, std::uint32_t depth) noexcept;
void write_missing_increments(doc::Writer& w, const doc::View& target, const doc::View& patch,
                              std::string_view prefix, Ops& ops, std::uint32_t depth) noexcept;

void write_object(doc::Writer& w, const doc::View& target, const doc::View& patch, std::string_view path, Ops& ops,
                  std::uint32_t depth) noexcept {
  w.begin_object();
  write_members(w, target, patch, path, ops, depth + 1);
  w.end();
}

void write_members(doc::Writer& w, const doc::View& target, const doc::View& patch, std::string_view prefix,
                   Ops& ops, std::uint32_t depth) noexcept {
  if (depth > max_patch_depth) {
    ops.error = Errc::too_large;
    return;
  }
  const bool top = prefix.empty();
  const bool has_target = target.type() == doc::Type::object;
  const bool has_patch = patch.type() == doc::Type::object;
  if (has_target) {
    auto c = target.children();
    while (c.next()) {
      const std::string_view k = c.key();
      if (top && reserved(k)) continue;
      const PathBuf full = join(prefix, k);
      if (ops.unset_has(full.view())) continue;
      const doc::View pv = has_patch ? patch.get(k) : doc::View{};
      if (pv.valid()) {
        if (pv.type() == doc::Type::null) continue;  // merge patch: null removes
        w.key(k);
        if (pv.type() == doc::Type::object) write_object(w, c.value(), pv, full.view(), ops, depth);
        else w.value(pv);
      } else if (ops.delta(full.view()).valid()) {
        w.key(k);
        write_sum(w, c.value(), ops.delta(full.view()), ops);
      } else if (c.value().type() == doc::Type::object && ops.below(full.view())) {
        w.key(k);
        write_object(w, c.value(), doc::View{}, full.view(), ops, depth);
      } else {
        w.key(k).value(c.value());
      }
    }
  }
  if (has_patch) {
    auto c = patch.children();
    while (c.next()) {
      const std::string_view k = c.key();
      if ((top && (reserved(k) || (!k.empty() && k.front() == '$'))) || c.value().type() == doc::Type::null) continue;
      if (has_target && target.get(k).valid()) continue;
      const PathBuf full = join(prefix, k);
      w.key(k);
      if (c.value().type() == doc::Type::object) write_object(w, doc::View{}, c.value(), full.view(), ops, depth);
      else w.value(c.value());
    }
  }
  if (ops.inc.valid()) write_missing_increments(w, target, patch, prefix, ops, depth);
}

// Below `path`: the rest of `p` ("" when p is not below it).
std::string_view below(std::string_view p, std::string_view path) noexcept {
  if (path.empty()) return p;
  if (p.size() > path.size() && p.substr(0, path.size()) == path && p[path.size()] == '.')
    return p.substr(path.size() + 1);
  return {};
}

// An $inc of a member this object lacks: the member starts at the delta,
// and missing objects on the way are created (a path through a member that
// is not an object leaves that document's value alone).
void write_missing_increments(doc::Writer& w, const doc::View& target, const doc::View& patch,
                              std::string_view prefix, Ops& ops, std::uint32_t depth) noexcept {
  const bool has_target = target.type() == doc::Type::object;
  const bool has_patch = patch.type() == doc::Type::object;
  auto c = ops.inc.children();
  std::uint32_t index = 0;
  while (c.next()) {
    const std::string_view rest = below(c.key(), prefix);
    const std::string_view first = first_component(rest);
    ++index;
    if (rest.empty() || (has_target && target.get(first).valid()) || (has_patch && patch.get(first).valid()))
      continue;
    if (first == rest) {
      w.key(first).value(c.value());
      continue;
    }
    bool seen = false;  // one object per missing member, however many increments it holds
    auto earlier = ops.inc.children();
    for (std::uint32_t i = 1; i < index && earlier.next(); ++i)
      seen = seen || first_component(below(earlier.key(), prefix)) == first;
    if (seen) continue;
    const PathBuf full = join(prefix, first);
    w.key(first);
    write_object(w, doc::View{}, doc::View{}, full.view(), ops, depth);
  }
}

}  // namespace

Status DocStore::Impl::check_patch(const doc::View* patch) noexcept {
  if (!patch) return {};
  if (patch->type() != doc::Type::object) return fail(Errc::invalid_argument);
  auto c = patch->children();
  while (c.next()) {
    const std::string_view k = c.key();
    if (reserved(k)) return fail(Errc::invalid_argument);
    if (k.empty() || k.front() != '$') continue;
    if (k == "$inc") {
      if (c.value().type() != doc::Type::object) return fail(Errc::invalid_argument);
      auto m = c.value().children();
      while (m.next())
        if (!m.value().is_number() || m.key().empty() || reserved(first_component(m.key())))
          return fail(Errc::invalid_argument);
    } else if (k == "$unset") {
      const auto t = c.value().type();
      if (t != doc::Type::array && t != doc::Type::object) return fail(Errc::invalid_argument);
      auto m = c.value().children();
      while (m.next()) {
        const std::string_view p = t == doc::Type::object ? m.key() : m.value().string();
        if ((t == doc::Type::array && m.value().type() != doc::Type::string) || p.empty() ||
            reserved(first_component(p)))
          return fail(Errc::invalid_argument);
      }
    } else {
      return fail(Errc::invalid_argument);
    }
  }
  return {};
}

Status DocStore::Impl::apply_patch(doc::Writer& w, const doc::View& old, const doc::View& patch,
                                   std::int64_t ts) noexcept {
  Ops ops;
  ops.inc = patch.get("$inc");
  ops.unset = patch.get("$unset");
  const doc::View id = old.get("_id");
  w.begin_object().key("_id").value(id).key("_ts").integer(ts).key("_v").integer(std::int64_t{version_of(old)} + 1);
  write_members(w, old, patch, {}, ops, 1);
  w.end();
  if (ops.error != Errc::ok) return fail(ops.error);
  return w.status();
}

bool DocStore::Impl::patch_touches_indexes(DocStore& db, std::uint16_t cid, const doc::View& patch) noexcept {
  for (const auto& x : db.config_.indexes) {
    if (x.cid != cid) continue;
    for (std::size_t p = 0; p < x.path_count; ++p) {
      const std::string_view head = first_component(x.path(p));
      if (head == "_ts" || head == "_v") return true;  // every update changes them
      auto c = patch.children();
      while (c.next()) {
        if (c.key() == "$inc" || c.key() == "$unset") {
          auto m = c.value().children();
          while (m.next()) {
            const std::string_view q = c.value().type() == doc::Type::array ? m.value().string() : m.key();
            if (first_component(q) == head) return true;
          }
        } else if (c.key() == head) {
          return true;
        }
      }
    }
  }
  return false;
}

}  // namespace ferrite
