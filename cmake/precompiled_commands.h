// Precompiled for commands/ (issue 13): the core set plus CLI11, which only the command layer uses.
#include "precompiled_core.h"

#include <CLI/CLI.hpp>
