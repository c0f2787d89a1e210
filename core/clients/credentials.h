#pragma once

#include <optional>
#include <string>
#include <vector>

namespace statectl::config {
class Config;
}

namespace statectl::clients {

// A password from the secret store, registered for redaction; nullopt when name is empty or the
// store has no such secret. With lenient, an unreadable store also gives nullopt (trust setups
// need no password and the server says so otherwise); without, its Error propagates.
std::optional<std::string> stored_password(const config::Config& cfg, const std::string& name, bool lenient);

// The passwords a login with secret `name` tries, in order: the stored one, then the other value
// of a rotation that a killed `secrets rotate --apply` left unfinished (see secrets::Store). Empty
// when there is none; errors as stored_password without lenient.
std::vector<std::string> login_passwords(const config::Config& cfg, const std::string& name);

} // namespace statectl::clients
