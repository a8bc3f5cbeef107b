// Parsing a subcommand's arguments.
#include <fmt/format.h>

import ferrite;
#include "tool.hpp"
#include "args.hpp"

namespace ferrite::tool {

bool ParsedArgs::has(std::string_view name) const {
  for (const auto& [n, v] : options)
    if (n == name) return true;
  return false;
}

std::optional<std::string> ParsedArgs::value(std::string_view name) const {
  std::optional<std::string> found;
  for (const auto& [n, v] : options)
    if (n == name) found = v;
  return found;
}

namespace {

const OptionSpec* find_option(std::span<const OptionSpec> options, std::string_view name) {
  for (const OptionSpec& o : options)
    if (o.name == name) return &o;
  return nullptr;
}

}  // namespace

Checked<ParsedArgs> parse_args(std::span<const std::string> args, std::span<const OptionSpec> options,
                               std::size_t min_positionals, std::size_t max_positionals) {
  ParsedArgs out;
  bool options_end = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    // "-128" and "-.5" are values (put's VALUE), never options.
    const bool number = a.size() >= 2 && a[0] == '-' && (std::isdigit(static_cast<unsigned char>(a[1])) || a[1] == '.');
    if (options_end || a.size() < 2 || a[0] != '-' || number) {
      out.positionals.push_back(a);
      continue;
    }
    if (a == "--") {
      options_end = true;
      continue;
    }
    if (a == "-h" || a == "--help") {
      out.help = true;
      continue;
    }
    if (a.rfind("--", 0) != 0) return usage_error(fmt::format("unknown option '{}'", a));
    std::string name = a.substr(2);
    std::optional<std::string> inline_value;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.resize(eq);
    }
    const OptionSpec* spec = find_option(options, name);
    if (!spec) return usage_error(fmt::format("unknown option '--{}'", name));
    if (spec->value_name.empty()) {
      if (inline_value) return usage_error(fmt::format("option '--{}' takes no value", name));
      out.options.emplace_back(name, "");
      continue;
    }
    if (inline_value) {
      out.options.emplace_back(name, *inline_value);
    } else if (i + 1 < args.size()) {
      out.options.emplace_back(name, args[++i]);
    } else {
      return usage_error(fmt::format("option '--{}' needs a value ({})", name, spec->value_name));
    }
  }
  if (out.help) return out;
  if (out.positionals.size() < min_positionals)
    return usage_error(fmt::format("missing argument{} (see --help)", min_positionals - out.positionals.size() > 1 ? "s" : ""));
  if (out.positionals.size() > max_positionals)
    return usage_error(fmt::format("unexpected argument '{}'", out.positionals[max_positionals]));
  return out;
}

}  // namespace ferrite::tool
