// The simulated NOR flash: rule enforcement, tears, weak bits and counters.
module;
#include "ferrite_modules.hpp"

module ferrite.sim;

namespace ferrite::sim {
namespace {

// splitmix64: tiny, seedable from any value, good enough for fault
// placement, and <random> is not part of the module prologue.
std::uint64_t next(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [0, bound) (bound > 0); the modulo bias is irrelevant here.
std::uint64_t below(std::uint64_t& state, std::uint64_t bound) noexcept { return next(state) % bound; }

std::uint64_t stream(std::uint64_t seed, std::uint64_t salt) noexcept {
  std::uint64_t s = seed ^ (salt * 0xD6E8FEB86659FD93ull);
  next(s);
  return s;
}

// A random byte mask whose bits are set with probability `threshold` / 256.
std::byte random_mask(std::uint64_t& rng, unsigned threshold) noexcept {
  const std::uint64_t r = next(rng);
  unsigned mask = 0;
  for (unsigned i = 0; i < 8; ++i)
    if (((r >> (8 * i)) & 0xFF) < threshold) mask |= 1u << i;
  return static_cast<std::byte>(mask);
}

int popcount(std::byte b) noexcept { return std::popcount(static_cast<unsigned>(b)); }

[[noreturn]] void precondition_failed(const char* what) noexcept {
  std::fprintf(stderr, "ferrite::sim::SimFlash: %s\n", what);
  std::abort();
}

const char* op_name(FlashOpKind k) noexcept {
  switch (k) {
    case FlashOpKind::read: return "read";
    case FlashOpKind::program: return "program";
    case FlashOpKind::erase: return "erase";
  }
  return "?";
}

const char* fault_name(FaultKind k) noexcept {
  switch (k) {
    case FaultKind::power_cut: return "power cut during";
    case FaultKind::injected_error: return "injected error on";
    case FaultKind::silent_drop: return "silently dropped";
    case FaultKind::worn_out: return "worn-out refusal of";
  }
  return "?";
}

constexpr std::size_t max_fault_log = 256;
constexpr std::uint64_t weak_noise_salt = 0x6E6F697365ull;  // "noise"
constexpr std::uint64_t flip_salt = 0x666C6970ull;          // "flip"
constexpr std::uint64_t tear_key = 0x7465617273ull;         // "tears": op-indexed streams

}  // namespace

SimFlash::SimFlash(Geometry g, std::uint64_t seed, TimingModel timing)
    : geometry_(g),
      timing_(timing),
      seed_(seed),
      fault_rng_(stream(seed, flip_salt)),
      noise_rng_(stream(seed, weak_noise_salt)),
      image_(g.total_size(), g.erased_byte()),
      weak_(g.total_size(), std::byte{0}),
      programmed_(g.total_size() / g.program_unit(), 0),
      weak_bits_(g.sector_count(), 0),
      wear_(g.sector_count(), 0) {
  counters_.sector_erases.assign(g.sector_count(), 0);
}

void SimFlash::reset_counters() noexcept {
  std::vector<std::uint32_t> erases = std::move(counters_.sector_erases);
  std::fill(erases.begin(), erases.end(), 0u);
  counters_ = Counters{};
  counters_.sector_erases = std::move(erases);
}

std::uint32_t SimFlash::lifetime_erases(std::uint32_t sector) const noexcept {
  return sector < wear_.size() ? wear_[sector] : 0;
}

void SimFlash::cut_power_at(std::uint64_t op_index) noexcept { cut_at_ = op_index; }

void SimFlash::cut_power() noexcept { power_lost_ = true; }

void SimFlash::restore_power() noexcept {
  power_lost_ = false;
  cut_at_ = std::numeric_limits<std::uint64_t>::max();
}

std::size_t SimFlash::weak_bit_count() const noexcept {
  std::size_t n = 0;
  for (std::uint32_t c : weak_bits_) n += c;
  return n;
}

bool SimFlash::is_weak(std::uint32_t address, unsigned bit) const noexcept {
  if (address >= image_.size() || bit >= 8) return false;
  return (static_cast<unsigned>(weak_[address]) >> bit) & 1u;
}

bool SimFlash::is_programmed(std::uint32_t address) const noexcept {
  return address < image_.size() && programmed_[address / geometry_.program_unit()] != 0;
}

void SimFlash::flip_bit(std::uint32_t address, unsigned bit) noexcept {
  if (address >= image_.size() || bit >= 8) precondition_failed("flip_bit outside the device");
  image_[address] ^= static_cast<std::byte>(1u << bit);
}

void SimFlash::flip_random_bits(std::size_t n) noexcept { flip_random_bits_in(0, geometry_.total_size(), n); }

void SimFlash::flip_random_bits_in(std::uint32_t address, std::uint32_t length, std::size_t n) noexcept {
  if (length == 0 || address >= image_.size() || length > image_.size() - address)
    precondition_failed("flip_random_bits_in: empty range or range outside the device");
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t bit = below(fault_rng_, std::uint64_t{length} * 8);
    flip_bit(address + static_cast<std::uint32_t>(bit / 8), static_cast<unsigned>(bit % 8));
  }
}

void SimFlash::fail_next(FlashOpKind kind, Errc error, bool silent) noexcept {
  injections_[static_cast<std::size_t>(kind)] = Injection{error, silent};
}

void SimFlash::load_image(std::span<const std::byte> bytes) noexcept {
  if (bytes.size() != image_.size()) precondition_failed("load_image: size differs from the geometry");
  std::copy(bytes.begin(), bytes.end(), image_.begin());
  std::fill(weak_.begin(), weak_.end(), std::byte{0});
  std::fill(weak_bits_.begin(), weak_bits_.end(), 0u);
  std::fill(wear_.begin(), wear_.end(), 0u);
  const std::uint32_t unit = geometry_.program_unit();
  for (std::size_t u = 0; u < programmed_.size(); ++u) {
    const auto first = image_.begin() + static_cast<std::ptrdiff_t>(u * unit);
    programmed_[u] = std::any_of(first, first + unit, [&](std::byte b) { return b != geometry_.erased_byte(); });
  }
}

// ---------------------------------------------------------------------------
// Requests

void SimFlash::submit(FlashRequest& r) noexcept {
  if (power_lost_) return r.complete(Errc::power_lost);
  if (const Errc bad = validate(r); bad != Errc::ok) return r.complete(bad);
  switch (r.kind) {
    case FlashOpKind::read: return do_read(r);
    case FlashOpKind::program: return do_program(r);
    case FlashOpKind::erase: return do_erase(r);
  }
  r.complete(Errc::invalid_argument);
}

Errc SimFlash::validate(const FlashRequest& r) const noexcept {
  const std::uint32_t total = geometry_.total_size();
  switch (r.kind) {
    case FlashOpKind::read:
      if (r.address > total || r.length > total - r.address) return Errc::out_of_bounds;
      if (r.length != 0 && r.read_into == nullptr) return Errc::invalid_argument;
      return Errc::ok;
    case FlashOpKind::program: {
      const std::uint32_t unit = geometry_.program_unit();
      if (r.length == 0 || r.program_from == nullptr) return Errc::invalid_argument;
      if (r.address % unit != 0 || r.length % unit != 0) return Errc::misaligned;
      if (r.address > total || r.length > total - r.address) return Errc::out_of_bounds;
      return Errc::ok;
    }
    case FlashOpKind::erase:
      if (r.sector >= geometry_.sector_count()) return Errc::out_of_bounds;
      if (r.address != geometry_.sector_offset(r.sector) || r.length != geometry_.sector_size(r.sector))
        return Errc::invalid_argument;
      return Errc::ok;
  }
  return Errc::invalid_argument;
}

std::optional<SimFlash::Injection> SimFlash::take_injection(FlashOpKind kind, const FlashRequest& r,
                                                             std::uint64_t op) noexcept {
  Injection& pending = injections_[static_cast<std::size_t>(kind)];
  if (!pending.silent && pending.error == Errc::ok) return std::nullopt;
  const Injection taken = std::exchange(pending, Injection{});
  record(taken.silent ? FaultKind::silent_drop : FaultKind::injected_error, r, op);
  return taken;
}

void SimFlash::do_read(FlashRequest& r) noexcept {
  if (auto inj = take_injection(FlashOpKind::read, r, mutating_ops_)) {
    if (!inj->silent) return r.complete(inj->error);
    count_read(r.length);
    return r.complete(Errc::ok);
  }
  if (r.length != 0) {  // an empty read may come with a null buffer
    std::memcpy(r.read_into, image_.data() + r.address, r.length);
    if (weak_bit_count() != 0) add_weak_noise(r.address, r.length, r.read_into);
  }
  count_read(r.length);
  r.complete(Errc::ok);
}

// Weak bits read as fresh noise: the cell sits near the sense threshold.
void SimFlash::add_weak_noise(std::uint32_t address, std::uint32_t length, std::byte* out) noexcept {
  const std::uint32_t end = address + length;
  std::uint32_t s = geometry_.sector_of(address);
  for (std::uint32_t pos = address; pos < end; ++s) {
    const std::uint32_t sector_end = std::min(end, geometry_.sector_offset(s + 1));
    if (weak_bits_[s] != 0) {
      for (std::uint32_t a = pos; a < sector_end; ++a) {
        const std::byte w = weak_[a];
        if (w == std::byte{0}) continue;
        const auto noise = static_cast<std::byte>(next(noise_rng_));
        out[a - address] = (out[a - address] & ~w) | (noise & w);
      }
    }
    pos = sector_end;
  }
}

void SimFlash::do_program(FlashRequest& r) noexcept {
  const std::uint64_t op = mutating_ops_++;
  const Errc rule = program_rules(r.address, r.length, r.program_from);
  if (op == cut_at_) {
    power_lost_ = true;
    record(FaultKind::power_cut, r, op);
    if (rule == Errc::ok) {
      count_program(r.length);
      tear_program(r.address, r.length, r.program_from, op);
    }
    return r.complete(Errc::power_lost);
  }
  if (auto inj = take_injection(FlashOpKind::program, r, op)) {
    if (!inj->silent) return r.complete(inj->error);
    count_program(r.length);
    return r.complete(Errc::ok);
  }
  if (rule != Errc::ok) {
    if (rule == Errc::worn_out) record(FaultKind::worn_out, r, op);
    return r.complete(rule);
  }
  const std::uint32_t unit = geometry_.program_unit();
  for (std::uint32_t off = 0; off < r.length; off += unit) write_unit((r.address + off) / unit, r.program_from + off);
  count_program(r.length);
  r.complete(Errc::ok);
}

Errc SimFlash::program_rules(std::uint32_t address, std::uint32_t length, const std::byte* data) const noexcept {
  const std::uint32_t last = geometry_.sector_of(address + length - 1);
  for (std::uint32_t s = geometry_.sector_of(address); s <= last; ++s)
    if (wear_[s] >= endurance_) return Errc::worn_out;
  const std::uint32_t unit = geometry_.program_unit();
  if (!geometry_.reprogram_allowed()) {
    for (std::uint32_t u = address / unit; u < (address + length) / unit; ++u)
      if (programmed_[u] != 0) return Errc::reprogram_forbidden;
  }
  const std::byte e = geometry_.erased_byte();
  for (std::uint32_t i = 0; i < length; ++i) {
    const std::byte already = image_[address + i] ^ e;  // bits away from the erase value
    const std::byte wanted = data[i] ^ e;
    if ((already & ~wanted) != std::byte{0}) return Errc::bits_not_erased;
  }
  return Errc::ok;
}

// Only called once the rules passed, so the result is exactly `data`.
void SimFlash::write_unit(std::uint32_t unit_index, const std::byte* data) noexcept {
  const std::uint32_t unit = geometry_.program_unit();
  const std::uint32_t base = unit_index * unit;
  for (std::uint32_t i = 0; i < unit; ++i) {
    image_[base + i] = data[i];
    // A bit a completed program drives to the programmed value is solid again.
    clear_weak(base + i, data[i] ^ geometry_.erased_byte());
  }
  programmed_[unit_index] = 1;
}

void SimFlash::write_unit_partly(std::uint32_t unit_index, const std::byte* data, std::uint64_t& rng) noexcept {
  const std::uint32_t unit = geometry_.program_unit();
  const std::uint32_t base = unit_index * unit;
  const std::byte e = geometry_.erased_byte();
  bool changed = false;
  for (std::uint32_t i = 0; i < unit; ++i) {
    const std::byte moving = (data[i] ^ e) & ~(image_[base + i] ^ e);
    const std::byte moved = moving & random_mask(rng, 128);
    if (moved == std::byte{0}) continue;
    image_[base + i] ^= moved;
    changed = true;
    if (weak_enabled_) set_weak(base + i, moved & random_mask(rng, 64));
  }
  if (changed) programmed_[unit_index] = 1;
}

void SimFlash::tear_program(std::uint32_t address, std::uint32_t length, const std::byte* data,
                            std::uint64_t op) noexcept {
  std::uint64_t rng = stream(seed_ ^ tear_key, op);
  const std::uint32_t unit = geometry_.program_unit();
  const std::uint32_t first = address / unit;
  const std::uint32_t n = length / unit;
  if (tear_mode_ == TearMode::prefix_then_partial) {
    // k == n: everything landed but the acknowledgement did not.
    const auto k = static_cast<std::uint32_t>(below(rng, std::uint64_t{n} + 1));
    for (std::uint32_t u = 0; u < k; ++u) write_unit(first + u, data + u * unit);
    if (k < n) write_unit_partly(first + k, data + k * unit, rng);
    return;
  }
  for (std::uint32_t u = 0; u < n; ++u) {
    switch (below(rng, 3)) {
      case 0: write_unit(first + u, data + u * unit); break;
      case 1: write_unit_partly(first + u, data + u * unit, rng); break;
      default: break;
    }
  }
}

void SimFlash::do_erase(FlashRequest& r) noexcept {
  const std::uint64_t op = mutating_ops_++;
  const Errc rule = wear_[r.sector] >= endurance_ ? Errc::worn_out : Errc::ok;
  if (op == cut_at_) {
    power_lost_ = true;
    record(FaultKind::power_cut, r, op);
    if (rule == Errc::ok) {
      count_erase(r.sector, false);
      tear_erase(r.sector, op);
    }
    return r.complete(Errc::power_lost);
  }
  if (auto inj = take_injection(FlashOpKind::erase, r, op)) {
    if (!inj->silent) return r.complete(inj->error);
    count_erase(r.sector, false);
    return r.complete(Errc::ok);
  }
  if (rule != Errc::ok) {
    record(FaultKind::worn_out, r, op);
    return r.complete(rule);
  }
  const auto first = static_cast<std::ptrdiff_t>(r.address);
  std::fill(image_.begin() + first, image_.begin() + first + r.length, geometry_.erased_byte());
  std::fill(weak_.begin() + first, weak_.begin() + first + r.length, std::byte{0});
  weak_bits_[r.sector] = 0;
  const std::uint32_t unit = geometry_.program_unit();
  std::fill(programmed_.begin() + first / unit, programmed_.begin() + (first + r.length) / unit, 0);
  ++wear_[r.sector];
  count_erase(r.sector, true);
  r.complete(Errc::ok);
}

// The erase pulse raises programmed bits towards the erase value; cut at a
// random point of it, each programmed bit has made it with the same odds.
void SimFlash::tear_erase(std::uint32_t sector, std::uint64_t op) noexcept {
  std::uint64_t rng = stream(seed_ ^ tear_key, op);
  const auto progress = static_cast<unsigned>(below(rng, 257));
  const std::byte e = geometry_.erased_byte();
  const std::uint32_t begin = geometry_.sector_offset(sector);
  const std::uint32_t end = begin + geometry_.sector_size(sector);
  for (std::uint32_t a = begin; a < end; ++a) {
    const std::byte programmed_bits = image_[a] ^ e;
    if (programmed_bits == std::byte{0}) continue;
    const std::byte moved = programmed_bits & random_mask(rng, progress);
    if (moved == std::byte{0}) continue;
    image_[a] ^= moved;
    // Fewer than in a torn program: only bits caught right at the sense
    // threshold when the pulse stopped are left marginal.
    if (weak_enabled_) set_weak(a, moved & random_mask(rng, 16));
  }
  // Only units that came out clean may be programmed again before a real erase.
  const std::uint32_t unit = geometry_.program_unit();
  for (std::uint32_t u = begin / unit; u < end / unit; ++u) {
    if (programmed_[u] == 0) continue;
    bool clean = true;
    for (std::uint32_t a = u * unit; a < (u + 1) * unit && clean; ++a)
      clean = image_[a] == e && weak_[a] == std::byte{0};
    if (clean) programmed_[u] = 0;
  }
}

void SimFlash::set_weak(std::uint32_t address, std::byte mask) noexcept {
  const std::byte added = mask & ~weak_[address];
  if (added == std::byte{0}) return;
  weak_[address] |= added;
  weak_bits_[geometry_.sector_of(address)] += static_cast<std::uint32_t>(popcount(added));
}

void SimFlash::clear_weak(std::uint32_t address, std::byte mask) noexcept {
  const std::byte removed = mask & weak_[address];
  if (removed == std::byte{0}) return;
  weak_[address] &= ~removed;
  weak_bits_[geometry_.sector_of(address)] -= static_cast<std::uint32_t>(popcount(removed));
}

void SimFlash::count_read(std::uint32_t length) noexcept {
  ++counters_.read_ops;
  counters_.bytes_read += length;
  counters_.device_time_us += timing_.read_us(length);
}

void SimFlash::count_program(std::uint32_t length) noexcept {
  ++counters_.program_ops;
  counters_.bytes_programmed += length;
  counters_.device_time_us += timing_.program_us(length);
}

void SimFlash::count_erase(std::uint32_t sector, bool completed) noexcept {
  ++counters_.erase_ops;
  if (completed) ++counters_.sector_erases[sector];
  counters_.device_time_us += timing_.erase_us(geometry_.sector_size(sector));
}

void SimFlash::record(FaultKind what, const FlashRequest& r, std::uint64_t op) noexcept {
  if (faults_.size() == max_fault_log) faults_.erase(faults_.begin());
  faults_.push_back(FaultRecord{what, r.kind, op, r.address, r.length});
}

std::string SimFlash::describe() const {
  char line[512];
  const Counters& c = counters_;
  std::snprintf(line, sizeof line,
                        "SimFlash %u B in %u sectors, unit %u, erased 0x%02X%s, seed %llu | %llu reads (%llu B), "
                        "%llu programs (%llu B), %llu erases, %.1f us | mutating op %llu | power %s",
                        geometry_.total_size(), geometry_.sector_count(), geometry_.program_unit(),
                        static_cast<unsigned>(geometry_.erased_byte()),
                        geometry_.reprogram_allowed() ? ", reprogram allowed" : "",
                        static_cast<unsigned long long>(seed_), static_cast<unsigned long long>(c.read_ops),
                        static_cast<unsigned long long>(c.bytes_read), static_cast<unsigned long long>(c.program_ops),
                        static_cast<unsigned long long>(c.bytes_programmed),
                        static_cast<unsigned long long>(c.erase_ops), c.device_time_us,
                        static_cast<unsigned long long>(mutating_ops_), power_lost_ ? "LOST" : "on");
  std::string out = line;  // snprintf truncates and terminates
  if (cut_at_ != std::numeric_limits<std::uint64_t>::max()) {
    std::snprintf(line, sizeof line, ", cut armed at op %llu", static_cast<unsigned long long>(cut_at_));
    out += line;
  }
  std::snprintf(line, sizeof line, " | %zu weak bits", weak_bit_count());
  out += line;
  if (!faults_.empty()) {
    const FaultRecord& f = faults_.back();
    std::snprintf(line, sizeof line, " | last fault: %s %s at op %llu [0x%X, +%u)", fault_name(f.what),
                  op_name(f.op), static_cast<unsigned long long>(f.op_index), f.address, f.length);
    out += line;
  }
  return out;
}

Task<Result<std::uint64_t>> SimCounter::read() noexcept { co_return value_; }

Task<Status> SimCounter::raise(std::uint64_t value) noexcept {
  if (value > value_) {
    value_ = value;
    ++raises_;
  }
  co_return Status{};
}

}  // namespace ferrite::sim
