#pragma once

// The configuration's class, declared only: headers that take a Config by reference include this
// and leave core/config/config.h to the sources that read values, so editing config.h rebuilds
// those sources only (issue 13).

namespace statectl::config {

class Config;

} // namespace statectl::config
