// ferrite.docstore — collections of schema-less documents on the engine:
// CBOR documents (ferrite.docstore:value), queries, indexes, transactions
// across collections. docs/DOCSTORE.md describes the API, docs/FORMAT.md §8
// the bytes.
module;
#include "ferrite_std.hpp"

export module ferrite.docstore;
export import :value;
export import ferrite.txn;
