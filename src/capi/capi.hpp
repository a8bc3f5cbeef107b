// Internal to the C API (src/capi): the port adapter and the store handle.
// Included by ordinary TUs after `import ferrite;` and ferrite.h.
#pragma once

namespace ferrite::capi {

inline ferrite_err to_c(Errc e) noexcept { return static_cast<ferrite_err>(e); }
inline Errc to_errc(ferrite_err e) noexcept { return static_cast<Errc>(e); }

inline std::span<const std::byte> bytes_of(const void* p, std::size_t n) noexcept {
  return {static_cast<const std::byte*>(p), p ? n : 0};
}
inline std::span<std::byte> mutable_bytes_of(void* p, std::size_t n) noexcept {
  return {static_cast<std::byte*>(p), p ? n : 0};
}

/// The geometry a C port describes. Errors: invalid_argument, too_large.
Result<Geometry> geometry_of(const ferrite_port& port) noexcept;

/// ferrite::FlashDevice over a ferrite_port's C callbacks. Blocking ports
/// complete every request inside submit(); polled ports start it there and
/// complete it from poll(), which the handle's RunLoop calls.
class PortDevice final : public FlashDevice, public EventSource {
 public:
  PortDevice(const ferrite_port& port, Geometry geometry) noexcept : port_(port), geometry_(geometry) {}
  PortDevice(const PortDevice&) = delete;
  PortDevice& operator=(const PortDevice&) = delete;

  const Geometry& geometry() const noexcept override { return geometry_; }
  void submit(FlashRequest& request) noexcept override;
  /// Polled ports: true while an operation is in flight (the loop keeps turning).
  bool poll() noexcept override;
  bool polled() const noexcept { return port_.poll != nullptr; }

 private:
  ferrite_port port_;
  Geometry geometry_;
  FlashRequest* pending_ = nullptr;
};

/// What a ferrite_store* points at: the first bytes of the caller's memory.
struct StoreHandle {
  static constexpr std::uint32_t magic_value = 0x66436170u;  // "paCf"
  std::uint32_t magic = magic_value;
  PortDevice device;
  RunLoop loop;
  Store store;

  StoreHandle(const ferrite_port& port, Geometry geometry, StoreConfig config) noexcept
      : device(port, geometry), store(Flash(device, port.poll ? &loop : nullptr), config) {
    if (device.polled()) loop.add_source(device);
  }
  StoreHandle(const StoreHandle&) = delete;
  StoreHandle& operator=(const StoreHandle&) = delete;

  /// Drives a call to completion: inline for blocking ports, on the loop for
  /// polled ones. A frame that could not be allocated yields no_memory.
  template <class T>
  T run(Task<T> task) noexcept {
    return sync_wait(std::move(task), device.polled() ? &loop : nullptr);
  }
};

inline StoreHandle* handle_of(ferrite_store* s) noexcept {
  auto* h = reinterpret_cast<StoreHandle*>(s);
  return h && h->magic == StoreHandle::magic_value ? h : nullptr;
}
inline const StoreHandle* handle_of(const ferrite_store* s) noexcept {
  auto* h = reinterpret_cast<const StoreHandle*>(s);
  return h && h->magic == StoreHandle::magic_value ? h : nullptr;
}

/// Status / Result -> ferrite_err.
template <class R>
ferrite_err code_of(const R& r) noexcept {
  return r ? FERRITE_OK : to_c(r.error());
}

}  // namespace ferrite::capi
