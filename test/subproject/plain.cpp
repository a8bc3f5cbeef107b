// Code of the consumer that does not import ferrite keeps its own dialect
// (C++17, exceptions on).
#include <cstdio>
#include <stdexcept>

int main() {
  try {
    throw std::runtime_error("exceptions are on");
  } catch (const std::exception& e) {
    std::printf("plain: %s, __cplusplus=%ld\n", e.what(), static_cast<long>(__cplusplus));
  }
  return __cplusplus == 201703L ? 0 : 1;
}
