// backup list --format prometheus: the newest valid backup per type, exact exposition text.
#include <doctest/doctest.h>

#include "core/backup/metrics.h"

using namespace statectl;
using namespace statectl::backup;

namespace {

BackupEntry entry(const std::string& id, const std::string& type, std::int64_t start_s, std::int64_t stop_s, std::uint64_t size,
                  std::uint64_t stored)
{
  BackupEntry e;
  e.id = id;
  e.valid = true;
  Manifest m;
  m.id = id;
  m.type = type;
  m.start_time = format_time(start_s * 1000000);
  m.stop_time = format_time(stop_s * 1000000);
  m.files.push_back({"base.tar.zst", size, stored, "", "", {}});
  e.manifest = m;
  return e;
}

} // namespace

TEST_CASE("backup metrics: newest valid backup per type, incomplete ones counted")
{
  std::vector<BackupEntry> entries;
  entries.push_back(entry("20260101-000000F", "full", 1767225600, 1767225630, 1000, 400));
  entries.push_back(entry("20260102-000000F", "full", 1767312000, 1767312090, 2000, 800));
  entries.push_back(entry("20260102-010000L", "logical", 1767315600, 1767315605, 50, 10));
  BackupEntry broken;
  broken.id = "20260103-000000F";
  entries.push_back(broken);
  const std::int64_t now_us = (1767312090LL + 3600) * 1000000;
  CHECK(list_to_prometheus(entries, now_us) ==
        "# HELP statectl_backup_valid_backups Valid backups in the statectl repository, by type.\n"
        "# TYPE statectl_backup_valid_backups gauge\n"
        "statectl_backup_valid_backups{type=\"full\"} 2\n"
        "statectl_backup_valid_backups{type=\"logical\"} 1\n"
        "# HELP statectl_backup_incomplete_backups Backup directories without a manifest (unfinished or broken).\n"
        "# TYPE statectl_backup_incomplete_backups gauge\n"
        "statectl_backup_incomplete_backups 1\n"
        "# HELP statectl_backup_newest_timestamp_seconds Unix time at which the newest valid backup of the type stopped.\n"
        "# TYPE statectl_backup_newest_timestamp_seconds gauge\n"
        "statectl_backup_newest_timestamp_seconds{type=\"full\"} 1767312090\n"
        "statectl_backup_newest_timestamp_seconds{type=\"logical\"} 1767315605\n"
        "# HELP statectl_backup_newest_age_seconds Age of the newest valid backup of the type when the metrics were written.\n"
        "# TYPE statectl_backup_newest_age_seconds gauge\n"
        "statectl_backup_newest_age_seconds{type=\"full\"} 3600\n"
        "statectl_backup_newest_age_seconds{type=\"logical\"} 85\n"
        "# HELP statectl_backup_newest_duration_seconds How long the newest valid backup of the type took.\n"
        "# TYPE statectl_backup_newest_duration_seconds gauge\n"
        "statectl_backup_newest_duration_seconds{type=\"full\"} 90\n"
        "statectl_backup_newest_duration_seconds{type=\"logical\"} 5\n"
        "# HELP statectl_backup_newest_size_bytes Size of the newest valid backup's data before compression.\n"
        "# TYPE statectl_backup_newest_size_bytes gauge\n"
        "statectl_backup_newest_size_bytes{type=\"full\"} 2000\n"
        "statectl_backup_newest_size_bytes{type=\"logical\"} 50\n"
        "# HELP statectl_backup_newest_stored_size_bytes Size of the newest valid backup in the repository (compressed).\n"
        "# TYPE statectl_backup_newest_stored_size_bytes gauge\n"
        "statectl_backup_newest_stored_size_bytes{type=\"full\"} 800\n"
        "statectl_backup_newest_stored_size_bytes{type=\"logical\"} 10\n");
}

TEST_CASE("backup metrics: an empty repository still says how many backups there are")
{
  CHECK(list_to_prometheus({}, 0) ==
        "# HELP statectl_backup_incomplete_backups Backup directories without a manifest (unfinished or broken).\n"
        "# TYPE statectl_backup_incomplete_backups gauge\n"
        "statectl_backup_incomplete_backups 0\n");
}
