#pragma once

#include <string>
#include <vector>

#include "core/backup/repository.h"

namespace statectl::backup {

// `backup list --format prometheus`: for each backup type (full, logical, redis) the number of
// valid backups and the newest valid one's stop time, age, duration, size and stored size, plus
// the incomplete backups, as Prometheus text exposition (statectl_backup_*, base units). now_us
// is the time the age is measured at.
std::string list_to_prometheus(const std::vector<BackupEntry>& entries, std::int64_t now_us);

} // namespace statectl::backup
