// ferrite.deferred — placeholder, being written.
module;
#include "ferrite_std.hpp"

export module ferrite.deferred;
export import ferrite.flash;
