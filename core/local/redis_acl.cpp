#include "core/local/redis_acl.h"

#include <fmt/format.h>
#include <openssl/sha.h>

#include "core/config/settings.h"

namespace statectl::local::redis_acl {

const std::vector<std::string>& app_commands()
{
  // Derived from core/state/redis.cpp and redis_scripts.h, not from a category: a script's
  // redis.call() is checked against these too.
  //   get/put/del/keys/ttl:  get set mset del exists strlen pttl scan eval (the put script)
  //   locks:                 eval (acquire/renew/release: exists incr hset hmget pexpire del),
  //                          hmget pttl scan (locks), wait (fencing), role (master check of
  //                          connect_master), info (replica count without Sentinels)
  //   checkpoints:           eval (scan type get pttl hset hget hgetall incr time set del), hgetall,
  //                          hget, incr, time, del (core/state/redis_checkpoint.cpp: bounded steps)
  //   connections:           ping (health)
  static const std::vector<std::string> commands = {"del",   "eval", "exists", "get",  "hget",  "hgetall", "hmget",
                                                    "hset",  "incr", "info",   "mset", "pexpire", "ping",  "pttl",
                                                    "role",  "scan", "set",    "strlen", "time", "type",  "wait"};
  return commands;
}

std::string key_pattern(const std::string& prefix)
{
  std::string out;
  for (char c : prefix) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out + "*";
}

std::vector<User> users(const std::string& key_prefix, bool cluster)
{
  std::vector<User> out;
  out.push_back({k_admin_user, k_admin_secret, {"~*", "&*", "+@all"}});

  User app{k_app_user, k_app_secret, {}};
  app.rules.push_back("~" + key_pattern(key_prefix));
  // core/state/redis.cpp's internal keys (metadata, locks, tokens, checkpoints).
  app.rules.push_back("~" + key_pattern("statectl#" + key_prefix));
  for (const auto& c : app_commands()) app.rules.push_back("+" + c);
  // The slot-aware client (core/clients/redis_cluster.cpp) reads the slot map and follows ASK.
  if (cluster)
    for (const char* c : {"+cluster|slots", "+cluster|shards", "+asking"}) app.rules.push_back(c);
  out.push_back(std::move(app));

  out.push_back({k_replication_user, k_replication_secret, {"+psync", "+replconf", "+ping"}});
  out.push_back({k_sentinel_user,
                 k_sentinel_secret,
                 {"&*", "+multi", "+exec", "+slaveof", "+ping", "+info", "+role", "+publish", "+subscribe", "+config|rewrite",
                  "+client|setname", "+client|kill", "+script|kill"}});
  return out;
}

std::vector<std::string> user_rules(const User& u, const std::string& password)
{
  std::vector<std::string> rules = {"on", "resetpass", "#" + password_hash(password), "resetkeys", "resetchannels", "-@all"};
  rules.insert(rules.end(), u.rules.begin(), u.rules.end());
  return rules;
}

std::vector<std::string> default_user_rules() { return {"off", "resetpass", "resetkeys", "resetchannels", "-@all"}; }

std::string password_hash(const std::string& password)
{
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(password.data()), password.size(), digest);
  std::string hex;
  for (unsigned char b : digest) hex += fmt::format("{:02x}", b);
  return hex;
}

namespace {

// A redis.conf argument as sdssplitargs reads it: bare when it is plain, else quoted with
// escapes.
std::string conf_token(const std::string& s)
{
  bool plain = !s.empty();
  for (unsigned char c : s)
    if (c <= ' ' || c >= 0x7f || c == '"' || c == '\'' || c == '\\') plain = false;
  if (plain) return s;
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out += fmt::format("\\{}", static_cast<char>(c));
    else if (c < ' ' || c >= 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  return out + "\"";
}

} // namespace

std::string conf_line(const std::string& name, const std::vector<std::string>& rules)
{
  std::string line = "user " + conf_token(name);
  for (const auto& r : rules) line += " " + conf_token(r);
  return line + "\n";
}

bool enabled(const config::Config& cfg) { return config::settings(cfg).redis.acl; }

} // namespace statectl::local::redis_acl
