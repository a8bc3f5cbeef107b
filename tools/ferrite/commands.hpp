// The subcommands of the ferrite command: each is a name, its help and a
// function from parsed arguments to an exit code (errors come back as a
// ToolError, which main prints as `ferrite: <command>: <what>`).
#pragma once

namespace ferrite::tool {

struct Command {
  std::string_view name;
  std::string_view synopsis;  ///< after "ferrite NAME "
  std::string_view summary;   ///< one line for `ferrite --help`
  std::string_view details;   ///< more lines for `ferrite NAME --help`
  std::vector<OptionSpec> options;
  std::size_t min_positionals = 0;
  std::size_t max_positionals = 0;
  Checked<int> (*run)(const ParsedArgs& args) = nullptr;
};

Command create_command();
Command info_command();
Command geometries_command();
Command get_command();
Command put_command();
Command rm_command();
Command ls_command();
Command verify_command();
Command dump_command();
Command export_command();
Command import_command();
Command find_command();
Command insert_command();
Command export_docs_command();
Command import_docs_command();
Command backup_command();
Command verify_backup_command();
Command restore_command();

/// Prints the presets (`ferrite geometries`, `create --help`).
void print_presets(std::FILE* out);

}  // namespace ferrite::tool
