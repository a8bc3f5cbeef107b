// The __atomic_* library calls for a single-core ARMv6-M part (Cortex-M0,
// M0+, M1).
//
// ARMv6-M has no exclusive loads and stores (LDREX/STREX), so clang lowers
// every std::atomic operation to a call (__atomic_load_4,
// __atomic_compare_exchange_4, ...), and the Arm GNU toolchain ships no
// libatomic to define them. ferrite's own atomics are the run loop's posted
// list and the flash ports' request states, which an interrupt handler touches
// while thread code does too; on one core, masking interrupts (PRIMASK)
// around the operation makes it atomic with respect to every other party.
//
// A multi-core ARMv6-M part (two M0+ cores sharing RAM) needs a hardware
// spinlock as well: its application defines these functions itself, and the
// linker then takes its definitions and never this archive member.
#include <cstdint>

namespace {

// Interrupts masked for the lifetime of the object; the previous PRIMASK is
// restored, so it nests inside a critical section of the application.
class InterruptsMasked {
 public:
  InterruptsMasked() noexcept { __asm volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask_)::"memory"); }
  ~InterruptsMasked() { __asm volatile("msr primask, %0" ::"r"(primask_) : "memory"); }
  InterruptsMasked(const InterruptsMasked&) = delete;
  InterruptsMasked& operator=(const InterruptsMasked&) = delete;

 private:
  std::uint32_t primask_;
};

template <class T>
T load(const volatile void* p) noexcept {
  InterruptsMasked masked;
  return *static_cast<const volatile T*>(p);
}
template <class T>
void store(volatile void* p, T v) noexcept {
  InterruptsMasked masked;
  *static_cast<volatile T*>(p) = v;
}
template <class T>
T exchange(volatile void* p, T v) noexcept {
  InterruptsMasked masked;
  auto* cell = static_cast<volatile T*>(p);
  const T old = *cell;
  *cell = v;
  return old;
}
template <class T>
bool compare_exchange(volatile void* p, void* expected, T desired) noexcept {
  InterruptsMasked masked;
  auto* cell = static_cast<volatile T*>(p);
  auto* want = static_cast<T*>(expected);
  const T now = *cell;
  if (now == *want) {
    *cell = desired;
    return true;
  }
  *want = now;
  return false;
}
template <class T>
T fetch_add(volatile void* p, T v) noexcept {
  InterruptsMasked masked;
  auto* cell = static_cast<volatile T*>(p);
  const T old = *cell;
  *cell = static_cast<T>(old + v);
  return old;
}
template <class T>
T fetch_sub(volatile void* p, T v) noexcept {
  InterruptsMasked masked;
  auto* cell = static_cast<volatile T*>(p);
  const T old = *cell;
  *cell = static_cast<T>(old - v);
  return old;
}

}  // namespace

// The memory-order arguments need no fence: one core, and the masked
// interrupts order the access with respect to every handler.
#define FERRITE_ATOMIC_CALLS(N, T)                                                                       \
  extern "C" T __atomic_load_##N(const volatile void* p, int) noexcept { return load<T>(p); }              \
  extern "C" void __atomic_store_##N(volatile void* p, T v, int) noexcept { store<T>(p, v); }              \
  extern "C" T __atomic_exchange_##N(volatile void* p, T v, int) noexcept { return exchange<T>(p, v); }    \
  extern "C" bool __atomic_compare_exchange_##N(volatile void* p, void* expected, T desired, int, int) noexcept { \
    return compare_exchange<T>(p, expected, desired);                                                     \
  }                                                                                                        \
  extern "C" T __atomic_fetch_add_##N(volatile void* p, T v, int) noexcept { return fetch_add<T>(p, v); }  \
  extern "C" T __atomic_fetch_sub_##N(volatile void* p, T v, int) noexcept { return fetch_sub<T>(p, v); }

FERRITE_ATOMIC_CALLS(1, std::uint8_t)
FERRITE_ATOMIC_CALLS(2, std::uint16_t)
FERRITE_ATOMIC_CALLS(4, std::uint32_t)
