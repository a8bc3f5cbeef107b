// ferrite — the umbrella module: `import ferrite;` brings every layer the
// build has (ferrite.crypto and ferrite.backup with libsodium and zstd; the
// layers standing on a feature left out of the build are not built, see
// docs/SIZE.md).
module;
export module ferrite;
export import ferrite.core;
export import ferrite.flash;
export import ferrite.log;
#if FERRITE_WITH_TRANSACTIONS
export import ferrite.txn;
#endif
#if FERRITE_WITH_TYPED_WRITES
export import ferrite.series;
#endif
#if FERRITE_WITH_TRANSACTIONS && FERRITE_WITH_SCANS && FERRITE_WITH_CHANGES
export import ferrite.docstore;
#endif
#if FERRITE_HAVE_CRYPTO
export import ferrite.crypto;
#endif
#if FERRITE_HAVE_CRYPTO && FERRITE_WITH_TRANSACTIONS && FERRITE_WITH_SCANS && FERRITE_WITH_CHANGES
export import ferrite.backup;
#endif
