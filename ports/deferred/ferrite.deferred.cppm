// ferrite.deferred — placeholder, being written.
module;
#include "ferrite_modules.hpp"

export module ferrite.deferred;
export import ferrite.flash;
