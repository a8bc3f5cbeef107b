// The ferrite command's shared vocabulary: exit codes, a failure that
// carries its exit code and one line of text, and a result that holds
// either a value or such a failure. Include after `import ferrite;`.
#pragma once

namespace ferrite::tool {

/// Exit codes (docs/TOOL.md): 0 ok, 1 damage or something not found,
/// 2 usage or bad input (wrong key, geometry mismatch, not an image,
/// malformed input, host I/O failures).
inline constexpr int exit_ok = 0;
inline constexpr int exit_damaged = 1;
inline constexpr int exit_usage = 2;

struct ToolError {
  int exit_code = exit_usage;
  std::string what;
};

inline ToolError usage_error(std::string what) { return {exit_usage, std::move(what)}; }
inline ToolError damage_error(std::string what) { return {exit_damaged, std::move(what)}; }

/// The exit code an engine error stands for: damage and absence are 1,
/// everything the caller can fix (key, geometry, input) is 2.
inline int exit_code_of(Errc e) {
  switch (e) {
    case Errc::not_found:
    case Errc::corrupt:
    case Errc::tampered:
    case Errc::io:
    case Errc::history_lost:
      return exit_damaged;
    default:
      return exit_usage;
  }
}

/// A value, or the failure that prevented it.
template <class T>
class [[nodiscard]] Checked {
 public:
  Checked(T value) : value_(std::move(value)) {}
  Checked(ToolError error) : error_(std::move(error)) {}
  explicit operator bool() const { return value_.has_value(); }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  const ToolError& error() const { return error_; }

 private:
  std::optional<T> value_;
  ToolError error_{};
};

struct Done {};
using CheckedDone = Checked<Done>;
inline CheckedDone done() { return Done{}; }

/// Host files.
Checked<std::vector<std::byte>> read_file(const std::string& path);
CheckedDone write_file(const std::string& path, std::span<const std::byte> bytes);
bool file_exists(const std::string& path);

inline std::span<const std::byte> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
inline std::string_view text_of(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace ferrite::tool
