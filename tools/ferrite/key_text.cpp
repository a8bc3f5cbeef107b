// Key names as text.
#include <fmt/format.h>

import ferrite;
#include "tool.hpp"
#include "values.hpp"
#include "key_text.hpp"

namespace ferrite::tool {

std::string key_display(std::span<const std::byte> key) {
  const std::string_view text = text_of(key);
  if (is_clean_utf8(key) && text.find_first_of("\t\n") == std::string_view::npos && text.rfind("hex:", 0) != 0)
    return std::string(text);
  return "hex:" + to_hex(key);
}

Checked<std::vector<std::byte>> key_argument(std::string_view text) {
  std::vector<std::byte> key;
  if (text.rfind("hex:", 0) == 0) {
    auto b = from_hex(text.substr(4));
    if (!b) return usage_error(fmt::format("key '{}': not hex after 'hex:'", text));
    key = std::move(*b);
  } else {
    key.assign(bytes_of(text).begin(), bytes_of(text).end());
  }
  if (key.empty()) return usage_error("the key is empty");
  if (key.size() > max_key_size)
    return usage_error(fmt::format("key '{}' is {} bytes: keys hold at most {}", text, key.size(), max_key_size));
  return key;
}

}  // namespace ferrite::tool
