// ferrite.sim — placeholder, being written.
module;
#include "ferrite_modules.hpp"

export module ferrite.sim;
export import ferrite.flash;
