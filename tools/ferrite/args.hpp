// Command-line arguments of one subcommand: positionals and --options,
// checked against what the subcommand declares.
#pragma once

namespace ferrite::tool {

struct OptionSpec {
  std::string_view name;        ///< without the dashes: "geometry"
  std::string_view value_name;  ///< empty: a flag; otherwise what the value is ("SPEC")
  std::string_view help;
};

struct ParsedArgs {
  std::vector<std::string> positionals;
  std::vector<std::pair<std::string, std::string>> options;  // a flag's value is empty
  bool help = false;

  bool has(std::string_view name) const;
  /// The last value given for `name`.
  std::optional<std::string> value(std::string_view name) const;
};

/// Parses `args` (the words after the subcommand). `--name value`,
/// `--name=value`, `--` ends the options, `-h`/`--help` asks for help.
/// Errors (usage): an option not in `options`, a missing value, a value
/// given to a flag, fewer than `min_positionals` or more than
/// `max_positionals` positionals.
Checked<ParsedArgs> parse_args(std::span<const std::string> args, std::span<const OptionSpec> options,
                               std::size_t min_positionals, std::size_t max_positionals);

}  // namespace ferrite::tool
