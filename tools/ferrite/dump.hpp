// `ferrite dump`: every sector and record of an image, walked without
// mounting it (ferrite.inspect), as a table for people or as the JSON of
// docs/DUMP.md. Include after `import ferrite.flash;` (or `import ferrite;`).
#pragma once

#include <cstdint>
#include <cstdio>

namespace ferrite::tool {

enum class DumpFormat : std::uint8_t { text, json };

/// Walks the image `flash` holds, read as `geometry` (its program unit and
/// erased value are the store's; its sectors must cover the flash exactly),
/// and prints it to `out`. Returns the exit code: 0 the image was walked and
/// is clean, 1 damage was found (docs/DUMP.md, "clean"), 2 it could not be
/// read (the geometry does not match the flash, or a read failed).
int dump(const ferrite::Geometry& geometry, ferrite::Flash& flash, DumpFormat format, std::FILE* out);

}  // namespace ferrite::tool
