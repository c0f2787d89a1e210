#pragma once

#include <chrono>
#include <string>

#include "commands/context.h"

namespace statectl::commands {

// `deploy` for the compose, k8s and terraform targets (the local target is commands/stack.cpp's):
// runs core/deploy and prints its result. Returns false when target is "local" (the caller
// deploys the local stack itself).
bool deploy_to_target(Context& ctx, const std::string& target, const std::string& cloud, std::chrono::milliseconds timeout,
                      bool rollback);

} // namespace statectl::commands
