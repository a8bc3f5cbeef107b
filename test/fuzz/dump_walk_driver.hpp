// What every walk of ferrite.inspect keeps, whatever the image: shared by
// test/test_dump_walk.cpp (campaign dump-walk-fuzz) and fuzz_dump_walk.cpp.
// Include after `import ferrite.inspect;` and the std headers.
#pragma once

namespace dump_walk {

namespace in = ferrite::inspect;

/// Empty when the walk keeps its invariants, else what it broke.
inline std::string broken_invariant(const ferrite::Geometry& g, const in::Image& image) {
  if (image.sectors.size() != g.sector_count()) return "sector count";
  std::set<std::uint32_t> seen;
  for (const in::Sector& s : image.sectors) {
    if (!seen.insert(s.index).second || s.index >= g.sector_count()) return "sector listed twice";
    if (s.size != g.sector_size(s.index) || s.address != g.sector_offset(s.index)) return "sector place";
    if (!s.walked) {
      if (!s.items.empty()) return "items in a sector not walked";
      continue;
    }
    std::uint32_t at = s.records_start;
    for (const in::Item& it : s.items) {
      if (it.offset != at || it.size == 0) return "items do not tile the record area";
      if (it.offset % g.program_unit() != 0) return "item off a unit boundary";
      at = it.offset + it.size;
      if (at > s.records_end) return "item past the record area";
      if (!it.damage && it.form == in::Form::compact && it.binding >= it.offset) return "binding after its record";
    }
    if (!s.items.empty() && s.end == in::EndState::blank && s.items.back().damage) return "damage before a blank end";
    if (s.end_offset < s.records_start || s.end_offset > std::max(s.records_start, s.records_end))
      return "end outside the area";
  }
  return {};
}

}  // namespace dump_walk
