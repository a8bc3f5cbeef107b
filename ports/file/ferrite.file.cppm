// ferrite.file — placeholder, being written.
module;
#include "ferrite_std.hpp"

export module ferrite.file;
export import ferrite.flash;
