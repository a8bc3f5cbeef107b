// ferrite.sim — placeholder, being written.
module;
#include "ferrite_std.hpp"

export module ferrite.sim;
export import ferrite.flash;
