// ferrite — the umbrella module: `import ferrite;` brings every layer
// (ferrite.crypto and ferrite.backup when the build has libsodium and zstd).
module;
export module ferrite;
export import ferrite.core;
export import ferrite.flash;
export import ferrite.log;
export import ferrite.txn;
export import ferrite.series;
export import ferrite.docstore;
#if FERRITE_HAVE_CRYPTO
export import ferrite.crypto;
export import ferrite.backup;
#endif
