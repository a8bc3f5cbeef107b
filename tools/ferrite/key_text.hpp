// Key names on the command line and in listings: text as it is, or
// "hex:..." for a key that is not clean UTF-8.
#pragma once

namespace ferrite::tool {

std::string key_display(std::span<const std::byte> key);
/// A key argument: "hex:0a0b" names a binary key; anything else is the key.
Checked<std::vector<std::byte>> key_argument(std::string_view text);

}  // namespace ferrite::tool
