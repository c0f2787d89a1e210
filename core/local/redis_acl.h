#pragma once

// The Redis ACL users of the local stack (issue 16, least privilege): one user per purpose, each
// with only the commands and keys that purpose needs, and the default user switched off.

#include <string>
#include <vector>

#include "core/config/config_fwd.h"

namespace statectl::local::redis_acl {

// The users and the secret-store entries that hold their passwords. The admin user keeps the
// secret "redis" (statectl's operational commands used it before ACLs), so `secrets rotate redis`
// still rotates what redis-cli and status log in with.
inline constexpr const char* k_admin_user = "statectl-admin";
inline constexpr const char* k_app_user = "statectl-app";
inline constexpr const char* k_replication_user = "statectl-replication";
inline constexpr const char* k_sentinel_user = "statectl-sentinel";
inline constexpr const char* k_admin_secret = "redis";
inline constexpr const char* k_app_secret = "redis-app";
inline constexpr const char* k_replication_secret = "redis-replication";
inline constexpr const char* k_sentinel_secret = "redis-sentinel";

// One ACL user: its name, the secret of its password and its rules (ACL SETUSER tokens, without
// "on", passwords or resets: user_rules() adds those).
struct User {
  std::string name;
  std::string secret;
  std::vector<std::string> rules;
};

// The commands the state backend (core/state/redis.cpp and its Lua scripts) sends, directly or
// from a script: values and metadata, locks and fencing tokens, checkpoints, WAIT and ROLE/INFO
// for fencing and master discovery. Lower-case, sorted.
const std::vector<std::string>& app_commands();

// A key_prefix as an ACL key pattern: glob characters escaped, then "*".
std::string key_pattern(const std::string& prefix);

// The four users for [state] key_prefix: admin (~* &* +@all), app (the state keys: key_prefix*
// and the internal statectl#key_prefix* keys, app_commands() only, no channels), replication
// (+psync +replconf +ping, no keys) and sentinel (the Redis documentation's Sentinel set: every
// channel, +multi +exec +slaveof +ping +info +role +publish +subscribe +config|rewrite
// +client|setname +client|kill +script|kill, no keys). On a Redis Cluster (cluster) the app user
// may also read the slot map and follow ASK redirects (+cluster|slots +cluster|shards +asking);
// the cluster bus needs no user.
std::vector<User> users(const std::string& key_prefix, bool cluster = false);

// The full rule list of a user with a password given as its SHA-256 hex ("#<hex>"): "on",
// "resetpass", "#<hex>", "resetkeys", "resetchannels", "-@all", then the user's rules. Applied
// with ACL SETUSER it replaces whatever the user had.
std::vector<std::string> user_rules(const User& u, const std::string& password);

// The rules that switch the default user off and take everything from it: a connection that
// does not AUTH as one of users() can run nothing.
std::vector<std::string> default_user_rules();

// The SHA-256 of a password in lower-case hex, as ACL "#<hash>" rules take it.
std::string password_hash(const std::string& password);

// A redis.conf "user" line of rules (each token quoted when it needs to be).
std::string conf_line(const std::string& name, const std::vector<std::string>& rules);

// True when a local stack deployed with this config runs with ACL users: [redis] acl (every
// Redis mode).
bool enabled(const config::Config& cfg);

} // namespace statectl::local::redis_acl
