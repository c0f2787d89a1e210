#include "core/monitoring/monitoring.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/config/settings.h"
#include "core/error.h"
#include "core/templating/engine.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::monitoring {

nlohmann::json values(const config::Config& cfg)
{
  auto seconds = [](std::chrono::milliseconds d) { return std::to_string(d.count() / 1000); };
  const std::string redis_mode = config::settings(cfg).redis.mode;
  const bool patroni = config::settings(cfg).postgres.ha == "patroni";
  // Patroni runs three members: the leader and two replicas.
  const std::int64_t pg_replicas = patroni ? 2 : config::settings(cfg).postgres.replicas;
  return {
    {"warn_pct", std::to_string(config::settings(cfg).capacity.warn)},
    {"crit_pct", std::to_string(config::settings(cfg).capacity.crit)},
    {"lag_warn_bytes", std::to_string(config::settings(cfg).capacity.replication_lag_warn)},
    {"lag_crit_bytes", std::to_string(config::settings(cfg).capacity.replication_lag_crit)},
    {"lag_warn_s", seconds(config::settings(cfg).capacity.replication_delay_warn)},
    {"lag_crit_s", seconds(config::settings(cfg).capacity.replication_delay_crit)},
    {"archive_ready_crit", std::to_string(config::settings(cfg).capacity.archive_ready_crit)},
    {"xact_crit_s", seconds(config::settings(cfg).capacity.transaction_crit)},
    {"pool_wait_crit_s", seconds(config::settings(cfg).capacity.pool_wait_crit)},
    {"backup_max_age_s", seconds(config::settings(cfg).backup.max_age)},
    {"pg_replicas", std::to_string(pg_replicas)},
    {"redis_replicas", std::to_string(redis_mode == "standalone" ? 0 : config::settings(cfg).redis.replicas)},
    {"sentinels", std::to_string(config::settings(cfg).redis.sentinels)},
    {"sentinel", redis_mode == "sentinel"},
    {"patroni", patroni},
    {"scrape_interval", config::settings(cfg).monitoring.scrape_interval_text},
  };
}

std::string render_template(const config::Config& cfg, const std::string& name)
{
  nlohmann::json vals = {{"mon", values(cfg)}, {"name", config::settings(cfg).project.name}};
  for (const auto& t : templating::find_templates(templating::template_roots(config::settings(cfg).templates.dir_path), "monitoring")) {
    if (t.relative != "monitoring/" + name) continue;
    auto text = util::read_file(t.source);
    if (!text) throw Error(ExitCode::usage, "cannot read template", text.error());
    return templating::render_string(*text, t.source.string(), vals);
  }
  throw Error(ExitCode::usage, fmt::format("no template monitoring/{}", name), "the templates directory is incomplete",
              "reinstall statectl or fix [templates] dir");
}

std::string alert_rules(const config::Config& cfg) { return render_template(cfg, "alerts.yml"); }

std::string prometheus_rule_spec(const std::string& rules)
{
  std::string out;
  for (const auto& line : util::split(rules, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    out += "  " + line + "\n";
  }
  return out;
}

} // namespace statectl::monitoring
