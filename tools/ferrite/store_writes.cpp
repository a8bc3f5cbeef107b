// Input records into a store.
#include <fmt/format.h>

import ferrite;
import ferrite.file;
#include "tool.hpp"
#include "args.hpp"
#include "image_headers.hpp"
#include "workspace.hpp"
#include "opened_store.hpp"
#include "image_lock.hpp"
#include "image_session.hpp"
#include "values.hpp"
#include "key_text.hpp"
#include "progress.hpp"
#include "input_records.hpp"
#include "store_writes.hpp"

namespace ferrite::tool {

CheckedDone write_records(ImageSession& session, std::span<const InputRecord> records, const std::string& file) {
  Store& store = session.store();
  Progress progress("import", records.size());
  for (const InputRecord& r : records) {
    const TypedValue& v = r.value;
    const Status p = v.type == ValueType::untyped ? sync_wait(store.put(r.key, v.bytes))
                                                  : sync_wait(store.put_typed(r.key, v.type, v.bytes));
    if (!p)
      return ToolError{exit_code_of(p.error()), fmt::format("{}: {} bytes: {}", where(file, r), v.bytes.size(),
                                                            session.opened->explain(p.error()))};
    progress.advance();
  }
  return done();
}

Checked<std::vector<InputRecord>> read_records(const std::string& file) {
  auto bytes = read_file(file);
  if (!bytes) return usage_error(bytes.error().what);
  const std::string_view text = text_of(*bytes);
  const auto first = text.find_first_not_of(" \t\r\n");
  const bool json = (file.size() >= 5 && file.compare(file.size() - 5, 5, ".json") == 0) ||
                    (first != std::string_view::npos && text[first] == '{');
  return json ? parse_export_json(text, file) : parse_nvs_csv(text, file);
}

}  // namespace ferrite::tool
