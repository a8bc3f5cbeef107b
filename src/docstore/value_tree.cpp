// Value: the owning document tree for hosts and tests. Decoding and encoding
// walk with explicit (heap) stacks, so depth costs no call stack.
module;
#include "ferrite_modules.hpp"

module ferrite.docstore;

namespace ferrite::doc {

Value Value::of_bool(bool v) {
  Value x;
  x.type_ = Type::boolean;
  x.b_ = v;
  return x;
}

Value Value::of_int(std::int64_t v) {
  Value x;
  x.type_ = Type::integer;
  x.i_ = v;
  return x;
}

Value Value::of_real(double v) {
  Value x;
  x.type_ = Type::real;
  x.d_ = v;
  return x;
}

Value Value::of_string(std::string_view v) {
  Value x;
  x.type_ = Type::string;
  x.s_.assign(v);
  return x;
}

Value Value::of_bytes(std::span<const std::byte> v) {
  Value x;
  x.type_ = Type::bytes;
  x.s_.assign(reinterpret_cast<const char*>(v.data()), v.size());
  return x;
}

Value Value::array() {
  Value x;
  x.type_ = Type::array;
  return x;
}

Value Value::object() {
  Value x;
  x.type_ = Type::object;
  return x;
}

Value& Value::push(Value v) {
  if (type_ == Type::array) items_.push_back(std::move(v));
  return *this;
}

Value& Value::set(std::string_view key, Value v) {
  if (type_ != Type::object) return *this;
  if (Value* old = find(key)) *old = std::move(v);
  else members_.emplace_back(std::string(key), std::move(v));
  return *this;
}

bool Value::erase(std::string_view key) {
  for (auto it = members_.begin(); it != members_.end(); ++it) {
    if (it->first == key) {
      members_.erase(it);
      return true;
    }
  }
  return false;
}

const Value* Value::find(std::string_view key) const noexcept {
  for (const auto& m : members_)
    if (m.first == key) return &m.second;
  return nullptr;
}

Value* Value::find(std::string_view key) noexcept {
  for (auto& m : members_)
    if (m.first == key) return &m.second;
  return nullptr;
}

namespace {

// The value of a scalar view, or an empty container of the view's kind.
Value shallow(const View& v) {
  switch (v.type()) {
    case Type::null: return Value();
    case Type::boolean: return Value::of_bool(v.boolean());
    case Type::integer: return Value::of_int(v.integer());
    case Type::real: return Value::of_real(v.real());
    case Type::string: return Value::of_string(v.string());
    case Type::bytes: return Value::of_bytes(v.bytes());
    case Type::array: return Value::array();
    case Type::object: return Value::object();
  }
  return Value();
}

bool is_container(Type t) noexcept { return t == Type::array || t == Type::object; }

}  // namespace

Value Value::from(const View& v) {
  if (!v.valid()) return Value();
  Value root = shallow(v);
  // Each entry is a container being filled and the walk over its source. A
  // container's parent does not grow while the container is on top, so the
  // pointer stays valid until it is popped.
  std::vector<std::pair<Value*, View::Children>> stack;
  if (is_container(v.type())) stack.emplace_back(&root, v.children());
  while (!stack.empty()) {
    Value* dst = stack.back().first;
    View::Children& it = stack.back().second;
    if (!it.next()) {
      stack.pop_back();
      continue;
    }
    const View child = it.value();
    Value* placed;
    if (dst->type_ == Type::object) {
      dst->members_.emplace_back(std::string(it.key()), shallow(child));
      placed = &dst->members_.back().second;
    } else {
      dst->items_.push_back(shallow(child));
      placed = &dst->items_.back();
    }
    if (is_container(child.type()) && child.size() > 0) stack.emplace_back(placed, child.children());
  }
  return root;
}

namespace {

// Writes a scalar, or the head of a container (its children follow).
void emit(Writer& w, const Value& v) {
  switch (v.type()) {
    case Type::null: w.null(); break;
    case Type::boolean: w.boolean(v.boolean()); break;
    case Type::integer: w.integer(v.integer()); break;
    case Type::real: w.real(v.real()); break;
    case Type::string: w.string(v.string()); break;
    case Type::bytes: w.bytes(std::as_bytes(std::span(v.string().data(), v.string().size()))); break;
    case Type::array: w.array(static_cast<std::uint32_t>(v.elements().size())); break;
    case Type::object: w.object(static_cast<std::uint32_t>(v.members().size())); break;
  }
}

std::size_t children_of(const Value& v) noexcept {
  return v.type() == Type::array ? v.elements().size() : v.type() == Type::object ? v.members().size() : 0;
}

Status write_tree(const Value& root, Writer& w) {
  std::vector<std::pair<const Value*, std::size_t>> stack;  // container, next child
  emit(w, root);
  if (children_of(root) > 0) stack.emplace_back(&root, 0);
  // The Writer refuses nesting past 16, which bounds the stack.
  while (!stack.empty() && w.status()) {
    auto [v, i] = stack.back();
    if (i == children_of(*v)) {
      stack.pop_back();
      continue;
    }
    ++stack.back().second;
    const Value* child;
    if (v->type() == Type::object) {
      w.key(v->members()[i].first);
      child = &v->members()[i].second;
    } else {
      child = &v->elements()[i];
    }
    emit(w, *child);
    if (children_of(*child) > 0) stack.emplace_back(child, 0);
  }
  return w.status();
}

}  // namespace

Result<std::vector<std::byte>> Value::encode() const {
  std::vector<std::byte> buf(256);
  for (;;) {
    Writer w(buf);
    const Status s = write_tree(*this, w);
    if (s) {
      buf.resize(w.size());
      return buf;
    }
    if (s.error() != Errc::buffer_too_small || buf.size() >= std::size_t{std::numeric_limits<std::uint32_t>::max()} / 2)
      return fail(s.error());
    buf.resize(buf.size() * 2);
  }
}

bool operator==(const Value& a, const Value& b) noexcept {
  // Iterative: pairs of values still to compare.
  std::vector<std::pair<const Value*, const Value*>> todo{{&a, &b}};
  while (!todo.empty()) {
    auto [x, y] = todo.back();
    todo.pop_back();
    if (x->type_ != y->type_) return false;
    switch (x->type_) {
      case Type::null: break;
      case Type::boolean: if (x->b_ != y->b_) return false; break;
      case Type::integer: if (x->i_ != y->i_) return false; break;
      case Type::real:
        if (!(std::isnan(x->d_) && std::isnan(y->d_)) &&
            std::bit_cast<std::uint64_t>(x->d_) != std::bit_cast<std::uint64_t>(y->d_))
          return false;
        break;
      case Type::string:
      case Type::bytes: if (x->s_ != y->s_) return false; break;
      case Type::array:
        if (x->items_.size() != y->items_.size()) return false;
        for (std::size_t i = 0; i < x->items_.size(); ++i) todo.emplace_back(&x->items_[i], &y->items_[i]);
        break;
      case Type::object:
        if (x->members_.size() != y->members_.size()) return false;
        for (std::size_t i = 0; i < x->members_.size(); ++i) {
          if (x->members_[i].first != y->members_[i].first) return false;
          todo.emplace_back(&x->members_[i].second, &y->members_[i].second);
        }
        break;
    }
  }
  return true;
}

}  // namespace ferrite::doc
