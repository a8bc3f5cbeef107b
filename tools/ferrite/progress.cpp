// The progress bar.
#include <unistd.h>
#include <fmt/format.h>

import ferrite;
#include "progress.hpp"

namespace ferrite::tool {

Progress::Progress(std::string_view label, std::size_t total)
    : label_(label), total_(total), enabled_(total > 0 && ::isatty(STDERR_FILENO) == 1) {
  draw();
}

Progress::~Progress() {
  if (enabled_ && drawn_percent_ >= 0) fmt::print(stderr, "\r{:<{}}\r", "", label_.size() + 48);
}

void Progress::advance(std::size_t n) {
  done_ = std::min(total_, done_ + n);
  draw();
}

void Progress::draw() {
  if (!enabled_) return;
  const int percent = static_cast<int>(100 * done_ / total_);
  if (percent == drawn_percent_) return;
  drawn_percent_ = percent;
  constexpr int width = 30;
  const int filled = percent * width / 100;
  fmt::print(stderr, "\r{} [{:#<{}}{:<{}}] {:3}%", label_, "", filled, "", width - filled, percent);
  std::fflush(stderr);
}

}  // namespace ferrite::tool
