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

// `destroy` for the compose, k8s and terraform targets: runs core/deploy/destroy and prints its
// result. Returns false when target is "local".
bool destroy_target(Context& ctx, const std::string& target, const std::string& cloud, bool purge, std::chrono::milliseconds timeout);

} // namespace statectl::commands
