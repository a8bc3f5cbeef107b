// JSON text (placeholder until the RapidJSON reader lands).
module;
#include "ferrite_modules.hpp"

module ferrite.docstore;

namespace ferrite::doc {

bool json_available() noexcept { return false; }

Result<std::size_t> json_to_cbor(std::string_view, std::span<std::byte>, const Limits&, TextError*) noexcept {
  return fail(Errc::unsupported);
}

Result<std::string> cbor_to_json(const View&) { return fail(Errc::unsupported); }

}  // namespace ferrite::doc
