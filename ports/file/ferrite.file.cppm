// ferrite.file — placeholder, being written.
module;
#include "ferrite_modules.hpp"

export module ferrite.file;
export import ferrite.flash;
