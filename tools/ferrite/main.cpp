// ferrite — inspect and edit ferrite flash images on a host
// (docs/TOOL.md): create, info, get, put, rm, ls, verify, dump, export,
// import, find, insert, export-docs, import-docs, backup, verify-backup, restore.
#include <fmt/format.h>

import ferrite;
#include "tool.hpp"
#include "args.hpp"
#include "commands.hpp"

namespace {

using namespace ferrite::tool;

std::vector<Command> command_table() {
  return {create_command(), info_command(),   ls_command(),     get_command(),    put_command(),
          rm_command(),     verify_command(), dump_command(),   export_command(), import_command(), find_command(),
          insert_command(), export_docs_command(), import_docs_command(), backup_command(), verify_backup_command(), restore_command(), geometries_command()};
}

void print_usage(const std::vector<Command>& commands) {
  fmt::print("usage: ferrite COMMAND [ARGS...]   (ferrite COMMAND --help for its options)\n\n"
             "Inspect and edit ferrite flash images: a file holding the bytes of a flash partition.\n\n"
             "commands:\n");
  for (const Command& c : commands) fmt::print("  {:<13} {}\n", c.name, c.summary);
  fmt::print("\nexit codes: 0 ok, 1 damaged or not found, 2 usage or bad input\n"
             "(wrong key, geometry mismatch, not a ferrite image, malformed input).\n");
}

void print_help(const Command& c) {
  fmt::print("usage: ferrite {} {}\n\n{}\n", c.name, c.synopsis, c.summary);
  if (!c.details.empty()) fmt::print("\n{}\n", c.details);
  if (!c.options.empty()) {
    fmt::print("\noptions:\n");
    for (const OptionSpec& o : c.options) {
      const std::string left = o.value_name.empty() ? fmt::format("--{}", o.name)
                                                    : fmt::format("--{} {}", o.name, o.value_name);
      fmt::print("  {:<28} {}\n", left, o.help);
    }
  }
  fmt::print("  {:<28} {}\n", "-h, --help", "this help");
  if (c.name == "create") {
    fmt::print("\ngeometry presets:\n");
    print_presets(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<Command> commands = command_table();
  if (argc < 2) {
    fmt::print(stderr, "ferrite: no command (ferrite --help lists them)\n");
    return exit_usage;
  }
  const std::string_view name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    print_usage(commands);
    return exit_ok;
  }
  if (name == "--version") {
    fmt::print("ferrite {}\n", ferrite::version);
    return exit_ok;
  }
  const Command* command = nullptr;
  for (const Command& c : commands)
    if (c.name == name) command = &c;
  if (!command) {
    fmt::print(stderr, "ferrite: unknown command '{}' (ferrite --help lists them)\n", name);
    return exit_usage;
  }
  const std::vector<std::string> words(argv + 2, argv + argc);
  auto args = parse_args(words, command->options, command->min_positionals, command->max_positionals);
  if (!args) {
    fmt::print(stderr, "ferrite: {}: {}\n", name, args.error().what);
    return args.error().exit_code;
  }
  if (args->help) {
    print_help(*command);
    return exit_ok;
  }
  const auto result = command->run(*args);
  if (!result) {
    fmt::print(stderr, "ferrite: {}: {}\n", name, result.error().what);
    return result.error().exit_code;
  }
  std::fflush(stdout);
  return *result;
}
