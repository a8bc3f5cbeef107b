// A progress bar on stderr for long operations, drawn only when stderr is a
// terminal (never into a log or a pipe).
#pragma once

namespace ferrite::tool {

class Progress {
 public:
  Progress(std::string_view label, std::size_t total);
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  ~Progress();  ///< erases the bar
  void advance(std::size_t n = 1);

 private:
  void draw();
  std::string label_;
  std::size_t total_;
  std::size_t done_ = 0;
  int drawn_percent_ = -1;
  bool enabled_;
};

}  // namespace ferrite::tool
