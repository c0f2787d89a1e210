#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "core/config/config_fwd.h"

namespace statectl::monitoring {

// The values the monitoring templates see under `mon`: the thresholds of [capacity], [backup]
// and [redis] in the units PromQL compares with (seconds, bytes, percent), the expected
// replica and Sentinel counts, and whether Patroni / Sentinel groups apply.
nlohmann::json values(const config::Config& cfg);

// Renders a template of templates/monitoring/ (e.g. "alerts.yml", "postgres-queries.yml") with
// `mon` and the render values of the config (name, ...). Throws Error(usage) like templating::render_string.
std::string render_template(const config::Config& cfg, const std::string& name);

// The alert rules file (templates/monitoring/alerts.yml), for Prometheus's rule_files.
std::string alert_rules(const config::Config& cfg);

// The rule groups of alert_rules() re-indented as the spec of a Kubernetes PrometheusRule
// ("  groups:\n    - name: ..."), comments left out.
std::string prometheus_rule_spec(const std::string& rules);

} // namespace statectl::monitoring
