// Geometry text: SPEC = RUN[+RUN...]@UNIT[,erased=00|ff], RUN = COUNTxSIZE,
// SIZE in bytes or with the suffix k (x 1024); and the named presets.
#pragma once

namespace ferrite::tool {

struct GeometryPreset {
  std::string_view name;
  std::string_view spec;
  std::string_view about;
};

/// The presets, in the order `ferrite geometries` lists them.
std::span<const GeometryPreset> geometry_presets();

/// A preset name or a SPEC. Errors (usage): the grammar, or a layout
/// Geometry::make refuses; the text names what is wrong.
Checked<Geometry> parse_geometry(std::string_view text);

/// The canonical SPEC of `g` (sizes in k when they are whole KiB; the
/// erased suffix only for 00).
std::string geometry_spec(const Geometry& g);

/// The header's geometry field (docs/FORMAT.md §2): crc32c over the runs as
/// count u32, size u32.
std::uint32_t geometry_crc(std::span<const SectorRun> runs);

}  // namespace ferrite::tool
