// How long the randomized campaigns run: FERRITE_CAMPAIGN_SCALE multiplies
// their size (default 1; a sanitizer build runs a fifth unless the variable
// is set). One definition for every campaign. Include after <cstdlib>.
#pragma once

namespace campaign {

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif
#else
inline constexpr bool sanitized = false;
#endif

inline double campaign_scale() {
  const char* s = std::getenv("FERRITE_CAMPAIGN_SCALE");
  double scale = s ? std::atof(s) : 1.0;
  if (sanitized && !s) scale = 0.2;
  return scale > 0 ? scale : 1.0;
}

}  // namespace campaign
