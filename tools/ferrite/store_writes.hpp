// Writing input records into a store (create, import).
#pragma once

namespace ferrite::tool {

/// Puts every record, in order. Errors name the record's file, line and key
/// with the store's refusal (a value over the limit, a full store).
CheckedDone write_records(ImageSession& session, std::span<const InputRecord> records, const std::string& file);

/// Reads the records of `file`: JSON (.json, or text starting with '{') or
/// CSV.
Checked<std::vector<InputRecord>> read_records(const std::string& file);

}  // namespace ferrite::tool
