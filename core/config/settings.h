#pragma once

// The configuration as typed values, one struct per section and one field per key of
// core/config/key_table.h (issue 13). The sources of core/ that only read values take them from
// here, so they include this header and config_fwd.h instead of core/config/config.h, and
// editing config.h does not rebuild them. settings.cpp fills every field through Config's
// checked getters (a key renamed in the table, or read as another type, does not compile there).
// Adding a key: its row in key_table.h, its field here, its line in settings.cpp.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config/config_fwd.h"

namespace statectl::config {

// [project]
struct ProjectSettings {
  std::string name;
  std::string target;
};

// [postgres]
struct PostgresSettings {
  std::string image;
  std::string patroni_image;
  std::string bin_dir;
  std::int64_t replicas = 0;
  bool replicas_set = false; // set anywhere above the built-in default
  bool synchronous = false;
  std::string ha;
  std::string database;
  std::string superuser;
  std::string app_user;
  std::int64_t max_connections = 0;
  std::uint64_t shared_buffers = 0;
  std::string shared_buffers_text; // the value as written
  std::string storage_size;
  std::string cpu;
  std::string memory;
  std::int64_t ttl = 0;
  std::int64_t loop_wait = 0;
  std::int64_t retry_timeout = 0;
  bool audit = false;
  std::string url;
};

// [pgbouncer]
struct PgbouncerSettings {
  std::string image;
  std::string pool_mode;
  std::int64_t max_client_conn = 0;
  std::int64_t default_pool_size = 0;
  std::int64_t replicas = 0;
  bool replicas_set = false; // set anywhere above the built-in default
  std::int64_t max_replicas = 0;
};

// [redis]
struct RedisSettings {
  std::string image;
  std::string mode;
  std::int64_t replicas = 0;
  std::int64_t sentinels = 0;
  std::int64_t quorum = 0;
  std::string master_name;
  std::uint64_t maxmemory = 0;
  std::string maxmemory_policy;
  std::chrono::milliseconds down_after;
  std::chrono::milliseconds failover_timeout;
  std::int64_t min_replicas_to_write = 0;
  std::int64_t cluster_masters = 0;
  std::int64_t cluster_replicas = 0;
  std::chrono::milliseconds cluster_node_timeout;
  std::string url;
  bool acl = false;
  bool acl_set = false; // set anywhere above the built-in default
  std::vector<std::string> sentinel_addrs;
};

// [state]
struct StateSettings {
  std::string backend;
  std::string table;
  std::string key_prefix;
  std::uint64_t max_value_size = 0;
  std::int64_t connect_retries = 0;
  std::chrono::milliseconds retry_initial;
  std::chrono::milliseconds retry_max;
  std::chrono::milliseconds timeout;
};

// [local]
struct LocalSettings {
  std::string dir;
  std::string run_as;
  std::int64_t postgres_port = 0;
  std::int64_t pgbouncer_port = 0;
  std::int64_t redis_port = 0;
  std::int64_t redis_cluster_bus_port = 0;
  std::int64_t sentinel_port = 0;
  std::int64_t etcd_port = 0;
  std::int64_t patroni_port = 0;
  std::int64_t haproxy_port = 0;
  std::int64_t prometheus_port = 0;
  std::int64_t postgres_exporter_port = 0;
  std::int64_t redis_exporter_port = 0;
};

// [tls]
struct TlsSettings {
  bool enabled = false;
  bool enabled_set = false; // set anywhere above the built-in default
};

// [compose]
struct ComposeSettings {
  std::string command;
  std::string network_prefix;
  std::string etcd_image;
  std::string haproxy_image;
};

// [k8s]
struct K8sSettings {
  std::string context;
  std::string namespace_;
  std::string storage_class;
  std::string app_label;
};

// [terraform]
struct TerraformSettings {
  std::string cloud;
  std::string region;
  std::string postgres_instance;
  std::string redis_node;
  std::int64_t storage_gb = 0;
  std::string backup_window;
  bool deletion_protection = false;
};

// [templates]
struct TemplatesSettings {
  std::string dir;
  std::filesystem::path dir_path; // resolved against the config file's directory; empty when unset
};

// [backup]
struct BackupSettings {
  std::string repo;
  std::filesystem::path repo_path; // resolved against the config file's directory; empty when unset
  std::string cipher;
  std::string cipher_key_file;
  std::filesystem::path cipher_key_file_path; // resolved against the config file's directory; empty when unset
  std::string s3_endpoint;
  std::string s3_region;
  std::string s3_uri_style;
  std::string s3_ca_file;
  std::filesystem::path s3_ca_file_path; // resolved against the config file's directory; empty when unset
  std::uint64_t s3_part_size = 0;
  std::string s3_credentials_file;
  std::filesystem::path s3_credentials_file_path; // resolved against the config file's directory; empty when unset
  std::int64_t retention_daily = 0;
  std::int64_t retention_weekly = 0;
  std::int64_t retention_monthly = 0;
  std::chrono::milliseconds wal_retention;
  std::int64_t compress_level = 0;
  std::int64_t threads = 0;
  std::chrono::milliseconds max_age;
};

// [secrets]
struct SecretsSettings {
  std::string dir;
  std::filesystem::path dir_path; // resolved against the config file's directory; empty when unset
  std::string key_file;
  std::filesystem::path key_file_path; // resolved against the config file's directory; empty when unset
};

// [capacity]
struct CapacitySettings {
  std::int64_t warn = 0;
  std::int64_t crit = 0;
  std::uint64_t replication_lag_warn = 0;
  std::uint64_t replication_lag_crit = 0;
  std::chrono::milliseconds replication_delay_warn;
  std::chrono::milliseconds replication_delay_crit;
  std::int64_t archive_ready_warn = 0;
  std::int64_t archive_ready_crit = 0;
  std::chrono::milliseconds transaction_warn;
  std::chrono::milliseconds transaction_crit;
  std::chrono::milliseconds pool_wait_crit;
  std::chrono::milliseconds connect_timeout;
};

// [monitoring]
struct MonitoringSettings {
  bool enabled = false;
  std::chrono::milliseconds scrape_interval;
  std::string scrape_interval_text; // the value as written
  std::string prometheus_image;
  std::string postgres_exporter_image;
  std::string redis_exporter_image;
};

struct Settings {
  ProjectSettings project;
  PostgresSettings postgres;
  PgbouncerSettings pgbouncer;
  RedisSettings redis;
  StateSettings state;
  LocalSettings local;
  TlsSettings tls;
  ComposeSettings compose;
  K8sSettings k8s;
  TerraformSettings terraform;
  TemplatesSettings templates;
  BackupSettings backup;
  SecretsSettings secrets;
  CapacitySettings capacity;
  MonitoringSettings monitoring;

  // Config::state_dir(), file(), base_dir() and profile().
  std::filesystem::path state_dir;
  std::optional<std::filesystem::path> file;
  std::filesystem::path base_dir;
  std::string profile;
};

// The typed values of cfg, kept up to date by Config whenever a value changes.
const Settings& settings(const Config& cfg);

// Builds them (Config calls this; settings() returns its copy).
Settings make_settings(const Config& cfg);

} // namespace statectl::config
