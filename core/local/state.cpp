#include "core/local/state.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/config/settings.h"
#include "core/error.h"
#include "core/util/fs.h"

namespace statectl::local {

namespace fs = std::filesystem;

int member_index(const std::string& name)
{
  auto dash = name.rfind('-');
  try {
    return dash == std::string::npos ? 0 : std::stoi(name.substr(dash + 1));
  } catch (...) {
    return 0;
  }
}

nlohmann::json Member::to_json() const
{
  nlohmann::json j = {{"name", name},     {"kind", kind},         {"role", role},         {"port", port},
                      {"pid", pid},       {"start_time", start_time}, {"dir", dir},       {"data_dir", data_dir},
                      {"log", log},       {"config", config},     {"initialized", initialized}};
  if (rest_port) j["rest_port"] = rest_port;
  return j;
}

Member Member::from_json(const nlohmann::json& j)
{
  Member m;
  m.name = j.at("name").get<std::string>();
  m.kind = j.at("kind").get<std::string>();
  m.role = j.value("role", "");
  m.port = j.value("port", 0);
  m.rest_port = j.value("rest_port", 0);
  m.pid = j.value("pid", 0);
  m.start_time = j.value("start_time", std::uint64_t{0});
  m.dir = j.value("dir", "");
  m.data_dir = j.value("data_dir", "");
  m.log = j.value("log", "");
  m.config = j.value("config", "");
  m.initialized = j.value("initialized", false);
  return m;
}

Member* StackState::find(const std::string& name)
{
  for (auto& m : members)
    if (m.name == name) return &m;
  return nullptr;
}

const Member* StackState::find(const std::string& name) const
{
  for (const auto& m : members)
    if (m.name == name) return &m;
  return nullptr;
}

std::vector<Member*> StackState::of_kind(const std::string& kind)
{
  std::vector<Member*> out;
  for (auto& m : members)
    if (m.kind == kind) out.push_back(&m);
  return out;
}

std::vector<const Member*> StackState::of_kind(const std::string& kind) const
{
  std::vector<const Member*> out;
  for (const auto& m : members)
    if (m.kind == kind) out.push_back(&m);
  return out;
}

ClientPorts StackState::client_ports() const
{
  ClientPorts p;
  for (const auto& m : members) {
    if (m.kind == "pgbouncer") p.pooler = m.port;
    if (m.kind == "haproxy" || (m.kind == "postgres" && m.role == "primary")) p.primary = m.port;
    if ((m.kind == "postgres" || m.kind == "patroni") && m.role == "replica") p.replicas.push_back(m.port);
    if (m.kind == "redis" && m.role == "master") p.redis = m.port;
    if (m.kind == "sentinel") p.sentinels.push_back(m.port);
  }
  return p;
}

const Member* StackState::with_role(const std::string& kind, const std::string& role) const
{
  for (const auto& m : members)
    if (m.kind == kind && m.role == role) return &m;
  return nullptr;
}

nlohmann::json StackState::to_json() const
{
  nlohmann::json ms = nlohmann::json::array();
  for (const auto& m : members) ms.push_back(m.to_json());
  return {{"version", version}, {"ha", ha},       {"redis_mode", redis_mode}, {"redis_acl", redis_acl}, {"patroni_tls", patroni_tls}, {"run_as", run_as},
          {"pgbouncer_target", pgbouncer_target}, {"scaled", scaled}, {"members", ms}};
}

StackState StackState::from_json(const nlohmann::json& j)
{
  StackState s;
  s.version = j.value("version", 1);
  s.ha = j.value("ha", "none");
  s.redis_mode = j.value("redis_mode", "sentinel");
  s.redis_acl = j.value("redis_acl", false); // stacks deployed before ACLs have no such field
  s.patroni_tls = j.value("patroni_tls", false); // nor before Patroni's REST API and etcd spoke TLS
  s.run_as = j.value("run_as", "");
  s.pgbouncer_target = j.value("pgbouncer_target", 0);
  s.scaled = j.value("scaled", std::map<std::string, int>{});
  for (const auto& m : j.value("members", nlohmann::json::array())) s.members.push_back(Member::from_json(m));
  return s;
}

fs::path state_file(const config::Config& cfg) { return config::settings(cfg).state_dir / "stack.json"; }

std::optional<StackState> load_state(const fs::path& file)
{
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::nullopt;
  auto text = util::read_file(file);
  if (!text) throw Error(ExitCode::failed, "cannot read the local stack state", text.error());
  try {
    return StackState::from_json(nlohmann::json::parse(*text));
  } catch (const nlohmann::json::exception& e) {
    throw Error(ExitCode::failed, fmt::format("cannot read the local stack state {}", file.string()), e.what(),
                "the file is damaged: stop the servers by hand, then move it away and run 'statectl deploy'");
  }
}

void save_state(const fs::path& file, const StackState& state)
{
  if (auto r = util::make_dirs(file.parent_path(), 0755); !r) throw Error(ExitCode::failed, "cannot save the local stack state", r.error());
  if (auto r = util::write_file_atomic(file, state.to_json().dump(2) + "\n", 0644); !r)
    throw Error(ExitCode::failed, "cannot save the local stack state", r.error());
}

} // namespace statectl::local
