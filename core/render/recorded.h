#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "core/config/config_fwd.h"

namespace statectl::render {

// Replica counts set by `statectl scale` on the compose, k8s and terraform targets, kept in
// <state dir>/scale.json so that `render` and the next `deploy` reproduce them. A recorded count
// applies while the config's own value is what it was when `scale` ran: editing the config
// afterwards wins again (the file records both).
struct RecordedCount {
  std::int64_t count = 0;
  std::string config_value; // the config's text for the key when scale ran
};

std::filesystem::path recorded_counts_file(const config::Config& cfg);

// Recorded counts of one target ("compose", "k8s", "terraform") that still apply, by config key
// ("postgres.replicas"). Throws Error(usage) when the file is not valid JSON.
std::map<std::string, std::int64_t> recorded_counts(const config::Config& cfg, const std::string& target);

// Records a count for target/key (atomically rewriting the file).
void record_count(const config::Config& cfg, const std::string& target, const std::string& key, std::int64_t count);

// Forgets the counts recorded for target (after `destroy --purge`: a new deploy starts from the
// config). Nothing happens when none are recorded.
void forget_counts(const config::Config& cfg, const std::string& target);

} // namespace statectl::render
