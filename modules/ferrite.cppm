// ferrite — the umbrella module: `import ferrite;` brings every layer.
export module ferrite;
export import ferrite.core;
export import ferrite.flash;
export import ferrite.log;
export import ferrite.txn;
