#pragma once

// The URL helper of the configuration, apart from core/config/config.h: the clients that only
// redact a URL for display do not rebuild when the Config class changes (issue 13).

#include <string>

namespace statectl::config {

// Redacts the password of a URL: postgresql://u:secret@h/db -> postgresql://u:****@h/db.
std::string redact_url(const std::string& url);

} // namespace statectl::config
