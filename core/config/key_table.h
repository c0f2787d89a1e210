#pragma once

// The config key table, as constant data: config::Key checks every literal key against it at
// compile time, and key_table() (keys.cpp) builds the run-time rows from it. Adding a key here
// adds it to parsing, validation, `init`, `config show`, the environment variables and README.

#include <array>
#include <span>
#include <cstdint>
#include <string_view>

namespace statectl::config {

// The kinds of value a config key holds. duration and size are TOML strings ("30s", "4gb")
// validated at load time; url is a string whose password part is redacted on display.
enum class KeyType { string, integer, boolean, duration, size, list, url };

// One row of the key table as the compiler sees it (KeySpec is its run-time form).
struct KeyRow {
  std::string_view name;                    // "postgres.replicas": section.key
  KeyType type;
  std::string_view default_value;           // textual default, read like an environment value
  std::array<std::string_view, 8> allowed;  // allowed values of an enum-like string; none = any
  std::int64_t min = 0;                     // integer bounds, used when min < max
  std::int64_t max = 0;
  std::string_view help;
  bool secret = false;                      // shown as **** by `config show`
};

namespace key_rows {
using T = KeyType;

// Defaults follow the seed architecture: PostgreSQL 16 images (local PostgreSQL 15 binaries),
// PgBouncer transaction pooling 1000/20, Redis 8.2 images 4gb allkeys-lru, Sentinel quorum 2,
// retention 7/4/12. The built-in default describes a local stack.
inline constexpr KeyRow k_rows[] = {
  // [project]
  {"project.name", T::string, "statectl", {}, 0, 0, "name used for the Compose project, Kubernetes labels and cloud resources"},
  {"project.target", T::string, "local", {"local", "compose", "k8s", "terraform"}, 0, 0, "deploy target when --target is not given"},

  // [postgres]
  {"postgres.image", T::string, "postgres:16.10-bookworm", {}, 0, 0, "container image for the compose and k8s targets (the official image's contract)"},
  {"postgres.patroni_image", T::string, "statectl/patroni:16.10-bookworm", {}, 0, 0, "image with ha = \"patroni\": postgres.image plus Patroni (compose builds it from the rendered patroni/Dockerfile; k8s: build and push it)"},
  {"postgres.bin_dir", T::string, "/usr/lib/postgresql/15/bin", {}, 0, 0, "PostgreSQL server binaries for the local target"},
  {"postgres.replicas", T::integer, "1", {}, 0, 15, "streaming standbys beside the primary (k8s renders 2 unless set)"},
  {"postgres.synchronous", T::boolean, "true", {}, 0, 0, "synchronous replication, so acknowledged writes survive a failover"},
  {"postgres.ha", T::string, "none", {"none", "patroni"}, 0, 0, "high availability: none (primary/standby) or patroni (local and compose: etcd + members + HAProxy; k8s: Kubernetes API as the store)"},
  {"postgres.database", T::string, "postgres", {}, 0, 0, "database holding the state table (a lower-case identifier: a-z, 0-9, _)"},
  {"postgres.superuser", T::string, "postgres", {}, 0, 0, "superuser role (a lower-case identifier, not pg_*)"},
  {"postgres.app_user", T::string, "app", {}, 0, 0, "application role (a lower-case identifier, not pg_*)"},
  {"postgres.max_connections", T::integer, "200", {}, 10, 100000, "max_connections of every PostgreSQL server"},
  {"postgres.shared_buffers", T::size, "256MB", {}, 0, 0, "shared_buffers"},
  {"postgres.storage_size", T::string, "20Gi", {}, 0, 0, "volume size per PostgreSQL pod/instance"},
  {"postgres.cpu", T::string, "2", {}, 0, 0, "CPU limit per PostgreSQL container"},
  {"postgres.memory", T::string, "4Gi", {}, 0, 0, "memory limit per PostgreSQL container"},
  {"postgres.ttl", T::integer, "30", {}, 5, 3600, "Patroni leader lease ttl in seconds"},
  {"postgres.loop_wait", T::integer, "10", {}, 1, 3600, "Patroni loop_wait in seconds"},
  {"postgres.retry_timeout", T::integer, "10", {}, 1, 3600, "Patroni retry_timeout in seconds"},
  {"postgres.audit", T::boolean, "false", {}, 0, 0,
   "pgaudit session logging (DDL, roles, privileges) on the local stack's servers (Debian's postgresql-15-pgaudit)"},
  {"postgres.url", T::url, "", {}, 0, 0, "external postgresql:// URL for state commands instead of the local stack"},

  // [pgbouncer]
  {"pgbouncer.image", T::string, "statectl/pgbouncer:1.18-bookworm", {}, 0, 0, "container image; compose builds it from the rendered pgbouncer/Dockerfile when missing"},
  {"pgbouncer.pool_mode", T::string, "transaction", {"session", "transaction", "statement"}, 0, 0, "pool_mode"},
  {"pgbouncer.max_client_conn", T::integer, "1000", {}, 1, 1000000, "max_client_conn"},
  {"pgbouncer.default_pool_size", T::integer, "20", {}, 1, 10000, "default_pool_size"},
  {"pgbouncer.replicas", T::integer, "1", {}, 1, 100, "pooler instances (k8s Deployment replicas, HPA minimum)"},
  {"pgbouncer.max_replicas", T::integer, "5", {}, 1, 1000, "HPA maximum pooler replicas on k8s"},

  // [redis]
  {"redis.image", T::string, "redis:8.2.1-bookworm", {}, 0, 0, "container image (the official image's contract)"},
  {"redis.mode", T::string, "sentinel", {"standalone", "sentinel", "cluster"}, 0, 0, "standalone, sentinel (master + replicas + 3 Sentinels) or cluster (cluster_masters masters with cluster_replicas replicas each; local, compose and k8s)"},
  {"redis.replicas", T::integer, "1", {}, 0, 15, "replicas of the master"},
  {"redis.sentinels", T::integer, "3", {}, 1, 9, "Sentinel processes"},
  {"redis.quorum", T::integer, "2", {}, 1, 9, "Sentinel quorum"},
  {"redis.master_name", T::string, "mymaster", {}, 0, 0, "master name Sentinels monitor"},
  {"redis.maxmemory", T::size, "4gb", {}, 0, 0, "maxmemory"},
  {"redis.maxmemory_policy", T::string, "allkeys-lru", {"noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"}, 0, 0, "maxmemory-policy"},
  {"redis.down_after", T::duration, "5s", {}, 0, 0, "Sentinel down-after-milliseconds"},
  {"redis.failover_timeout", T::duration, "10s", {}, 0, 0, "Sentinel failover-timeout"},
  {"redis.min_replicas_to_write", T::integer, "0", {}, 0, 15, "min-replicas-to-write on the master"},
  {"redis.cluster_masters", T::integer, "3", {}, 3, 100, "masters in cluster mode"},
  {"redis.cluster_replicas", T::integer, "1", {}, 0, 5, "replicas per master in cluster mode"},
  {"redis.cluster_node_timeout", T::duration, "5s", {}, 0, 0, "cluster-node-timeout: how long a master may be unreachable before its replica takes over (cluster mode)"},
  {"redis.url", T::url, "", {}, 0, 0, "external redis:// URL for state commands instead of the local stack"},
  {"redis.acl", T::boolean, "true", {}, 0, 0,
   "local stack and compose render (bare PostgreSQL mode): Redis ACL users (statectl-app limited to [state] key_prefix and the state commands, statectl-replication, statectl-sentinel, statectl-admin) with the default user off, on a local Redis Cluster too (the app user may also read CLUSTER SLOTS/SHARDS and send ASKING); not on k8s, compose with [postgres] ha = \"patroni\" or compose with [redis] mode = \"cluster\" (requirepass)"},
  {"redis.sentinel_addrs", T::list, "", {}, 0, 0, "external Sentinel host:port addresses"},

  // [state]
  {"state.backend", T::string, "postgres", {"postgres", "redis"}, 0, 0, "backend of get/put/del/keys/ttl/lock/locks/checkpoint"},
  {"state.table", T::string, "statectl_kv", {}, 0, 0, "PostgreSQL table of the key space"},
  {"state.key_prefix", T::string, "statectl:", {}, 0, 0, "prefix of Redis keys"},
  {"state.max_value_size", T::size, "16MiB", {}, 0, 0, "largest accepted value"},
  {"state.connect_retries", T::integer, "5", {}, 1, 100, "connection attempts before exit 3"},
  {"state.retry_initial", T::duration, "100ms", {}, 0, 0, "first retry delay (doubles each time)"},
  {"state.retry_max", T::duration, "5s", {}, 0, 0, "longest retry delay"},
  {"state.timeout", T::duration, "10s", {}, 1, 0, "timeout of every server call"},

  // [local]
  {"local.dir", T::string, "", {}, 0, 0, "state directory (default .statectl beside the config, else $XDG_STATE_HOME/statectl, /var/lib/statectl for root, ~/.local/state/statectl)"},
  {"local.run_as", T::string, "postgres", {}, 0, 0, "unprivileged user for servers when statectl runs as root"},
  {"local.postgres_port", T::integer, "15432", {}, 1024, 65535, "port of the primary; standbys take the following ports"},
  {"local.pgbouncer_port", T::integer, "16432", {}, 1024, 65535, "PgBouncer port (the address clients use)"},
  {"local.redis_port", T::integer, "16379", {}, 1024, 65535, "Redis master port; replicas take the following ports"},
  {"local.redis_cluster_bus_port", T::integer, "26379", {}, 1024, 65535, "cluster bus port of the node on redis_port; node N uses this + N (cluster mode)"},
  {"local.sentinel_port", T::integer, "16389", {}, 1024, 65535, "first Sentinel port"},
  {"local.etcd_port", T::integer, "12379", {}, 1024, 65535, "etcd client port (peer port is +1), patroni mode"},
  {"local.patroni_port", T::integer, "18008", {}, 1024, 65535, "first Patroni REST port, patroni mode"},
  {"local.haproxy_port", T::integer, "15000", {}, 1024, 65535, "HAProxy read-write port, patroni mode"},
  {"local.prometheus_port", T::integer, "19090", {}, 1024, 65535, "Prometheus port, [monitoring] enabled"},
  {"local.postgres_exporter_port", T::integer, "19187", {}, 1024, 65535, "first postgres_exporter port (one per PostgreSQL member), [monitoring] enabled"},
  {"local.redis_exporter_port", T::integer, "19121", {}, 1024, 65535, "redis_exporter port (it scrapes every Redis and Sentinel), [monitoring] enabled"},

  // [tls]
  {"tls.enabled", T::boolean, "true", {}, 0, 0,
   "TLS 1.3 only on every link of the local stack and of the compose render (certificates from statectl's CA; clients verify-full / CA pinning), the local Redis Cluster included (tls-cluster yes); the k8s render speaks TLS in every mode (the Secret's tls.crt, tls.key and ca.crt mounted at /tls); compose with [postgres] ha = \"patroni\" or [redis] mode = \"cluster\" is plain text (deploy warns; an explicit true is refused); terraform renders always enforce TLS"},

  // [compose]
  {"compose.command", T::string, "auto", {"auto", "docker compose", "docker-compose"}, 0, 0, "Compose client"},
  {"compose.network_prefix", T::string, "statectl", {}, 0, 0, "prefix of the per-backend networks"},
  {"compose.etcd_image", T::string, "quay.io/coreos/etcd:v3.5.17", {}, 0, 0, "etcd image of the consensus store with [postgres] ha = \"patroni\" (etcd and etcdctl on PATH)"},
  {"compose.haproxy_image", T::string, "haproxy:3.0.5-bookworm", {}, 0, 0, "HAProxy image with [postgres] ha = \"patroni\" (the official image's contract)"},

  // [k8s]
  {"k8s.context", T::string, "", {}, 0, 0, "kubectl context (empty = current)"},
  {"k8s.namespace", T::string, "statectl", {}, 0, 0, "namespace"},
  {"k8s.storage_class", T::string, "standard", {}, 0, 0, "storage class of volumeClaimTemplates"},
  {"k8s.app_label", T::string, "app.kubernetes.io/part-of=app", {}, 0, 0, "label of the application pods allowed by NetworkPolicies"},

  // [terraform]
  {"terraform.cloud", T::string, "aws", {"aws", "gcp", "azure"}, 0, 0, "cloud when --cloud is not given"},
  {"terraform.region", T::string, "us-east-1", {}, 0, 0, "region"},
  {"terraform.postgres_instance", T::string, "db.r6g.large", {}, 0, 0, "RDS instance class / Cloud SQL tier / Azure SKU"},
  {"terraform.redis_node", T::string, "cache.r6g.large", {}, 0, 0, "ElastiCache node type / Memorystore size / Azure SKU"},
  {"terraform.storage_gb", T::integer, "100", {}, 20, 65536, "allocated storage in GB"},
  {"terraform.backup_window", T::string, "03:00-04:00", {}, 0, 0, "daily backup window (UTC)"},
  {"terraform.deletion_protection", T::boolean, "true", {}, 0, 0,
   "deletion protection on the managed databases (AWS, GCP); set false, deploy, then destroy"},

  // [templates]
  {"templates.dir", T::string, "", {}, 0, 0, "directory whose files override the built-in templates by relative path"},

  // [backup]
  {"backup.repo", T::string, "", {}, 0, 0, "backup repository: a folder, or s3://BUCKET/PREFIX (default <state dir>/backups)"},
  {"backup.cipher", T::string, "none", {"none", "aes-256-gcm"}, 0, 0,
   "encryption at rest of every stored file, manifest and WAL object (key: secret backup_cipher_key, made on first use)"},
  {"backup.cipher_key_file", T::string, "", {}, 0, 0,
   "0600 copy of the cipher key for wal push/fetch (default <state dir>/backup-cipher-key)"},
  {"backup.s3_endpoint", T::string, "", {}, 0, 0, "S3 endpoint URL (default https://s3.<s3_region>.amazonaws.com)"},
  {"backup.s3_region", T::string, "us-east-1", {}, 0, 0, "S3 region requests are signed for"},
  {"backup.s3_uri_style", T::string, "host", {"host", "path"}, 0, 0, "S3 addressing: host (bucket.endpoint) or path (endpoint/bucket)"},
  {"backup.s3_ca_file", T::string, "", {}, 0, 0, "CA bundle that signed the S3 endpoint's certificate (default: the system's)"},
  {"backup.s3_part_size", T::size, "16MiB", {}, 0, 0, "S3 multipart upload part size (5MiB to 5GiB)"},
  {"backup.s3_credentials_file", T::string, "", {}, 0, 0,
   "0600 file with the S3 key pair for wal push/fetch (default <state dir>/s3-credentials; written from the environment or the secret store)"},
  {"backup.retention_daily", T::integer, "7", {}, 0, 10000, "daily backups kept"},
  {"backup.retention_weekly", T::integer, "4", {}, 0, 10000, "weekly backups kept"},
  {"backup.retention_monthly", T::integer, "12", {}, 0, 10000, "monthly backups kept"},
  {"backup.wal_retention", T::duration, "0s", {}, 0, 0,
   "point-in-time window: kept backups that stopped before it keep only the WAL that makes them consistent (0s: all WAL from the oldest kept backup)"},
  {"backup.compress_level", T::integer, "3", {}, 1, 19, "zstd level"},
  {"backup.threads", T::integer, "2", {}, 1, 64, "zstd worker threads"},
  {"backup.max_age", T::duration, "26h", {}, 0, 0, "age of the newest valid backup that capacity check tolerates"},

  // [secrets]
  {"secrets.dir", T::string, "", {}, 0, 0, "secret store (default <state dir>/secrets)"},
  {"secrets.key_file", T::string, "", {}, 0, 0, "0600 file with the AES-256-GCM master key (or STATECTL_MASTER_KEY)"},

  // [capacity]
  {"capacity.warn", T::integer, "80", {}, 0, 100, "warning threshold in percent"},
  {"capacity.crit", T::integer, "90", {}, 0, 100, "critical threshold in percent"},
  {"capacity.replication_lag_warn", T::size, "16MB", {}, 0, 0, "replica WAL replay lag (bytes behind the primary) that warns"},
  {"capacity.replication_lag_crit", T::size, "256MB", {}, 0, 0, "replica WAL replay lag that is critical"},
  {"capacity.replication_delay_warn", T::duration, "30s", {}, 0, 0, "replica replay delay (time behind the primary) that warns"},
  {"capacity.replication_delay_crit", T::duration, "5m", {}, 0, 0, "replica replay delay that is critical"},
  {"capacity.archive_ready_warn", T::integer, "10", {}, 1, 1000000, "WAL segments waiting for archive_command that warn"},
  {"capacity.archive_ready_crit", T::integer, "100", {}, 1, 1000000, "WAL segments waiting for archive_command that are critical"},
  {"capacity.transaction_warn", T::duration, "5m", {}, 0, 0, "age of the longest (or idle-in-) transaction that warns"},
  {"capacity.transaction_crit", T::duration, "1h", {}, 0, 0, "age of the longest (or idle-in-) transaction that is critical"},
  {"capacity.pool_wait_crit", T::duration, "5s", {}, 0, 0, "longest PgBouncer client wait that is critical (any waiting client warns)"},
  {"capacity.connect_timeout", T::duration, "3s", {}, 1, 0, "connect timeout per server of capacity check"},

  // [monitoring]
  {"monitoring.enabled", T::boolean, "false", {}, 0, 0, "Prometheus with postgres_exporter, redis_exporter and the alert rules beside the stack (k8s: exporters, ServiceMonitor, PrometheusRule)"},
  {"monitoring.scrape_interval", T::duration, "15s", {}, 0, 0, "Prometheus scrape and rule evaluation interval"},
  {"monitoring.prometheus_image", T::string, "prom/prometheus:v2.42.0", {}, 0, 0, "Prometheus image (compose)"},
  {"monitoring.postgres_exporter_image", T::string, "quay.io/prometheuscommunity/postgres-exporter:v0.11.1", {}, 0, 0, "postgres_exporter image (compose, k8s)"},
  {"monitoring.redis_exporter_image", T::string, "oliver006/redis_exporter:v1.45.0-alpine", {}, 0, 0, "redis_exporter image (compose, k8s; compose needs its shell)"},
};
} // namespace key_rows

// Every row of the key table, in display order.
inline constexpr std::span<const KeyRow> k_key_rows{key_rows::k_rows};

} // namespace statectl::config
