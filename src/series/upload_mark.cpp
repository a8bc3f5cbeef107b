// The "handled up to seq X" mark of a series log, kept in a Store.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.series;

namespace ferrite {

Task<Result<std::uint64_t>> UploadMark::get() noexcept {
  auto v = co_await store_->get_as<std::uint64_t>(key_);
  if (!v && v.error() == Errc::not_found) co_return std::uint64_t{0};
  co_return v;
}

Task<Status> UploadMark::set(std::uint64_t seq) noexcept {
  FERRITE_CO_TRY_ASSIGN(std::uint64_t now, co_await get());
  if (seq < now) co_return fail(Errc::invalid_argument);
  if (seq == now) co_return Status{};
  co_return co_await store_->put_as(key_, seq);
}

}  // namespace ferrite
