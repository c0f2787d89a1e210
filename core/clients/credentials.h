#pragma once

#include <optional>
#include <string>

namespace statectl::config {
class Config;
}

namespace statectl::clients {

// A password from the secret store, registered for redaction; nullopt when name is empty or the
// store has no such secret. With lenient, an unreadable store also gives nullopt (trust setups
// need no password and the server says so otherwise); without, its Error propagates.
std::optional<std::string> stored_password(const config::Config& cfg, const std::string& name, bool lenient);

} // namespace statectl::clients
