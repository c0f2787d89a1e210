// The terraform target: managed PostgreSQL and Redis of a cloud (aws, gcp, azure), planned and
// applied with terraform from the rendered files.
#include <cstdlib>
#include <cstring>
#include <map>
#include <fmt/format.h>
#include <mutex>
#include <system_error>

#include "core/error.h"
#include "core/config/config.h"
#include "core/render/recorded.h"
#include "core/targets/common.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::targets::detail {

namespace fs = std::filesystem;
using namespace std::chrono;
using nlohmann::json;

namespace {

// Where terraform runs: the applied directory, or under --dry-run a temporary copy of it holding
// the new render, so that planning writes nothing into the state directory (terraform keeps its
// state and providers beside the files; init and plan write there). The copy goes with the object.
class Workdir {
public:
  Workdir(const fs::path& dir, bool planning) : m_dir(dir)
  {
    if (!planning) return;
    std::string tmpl = (fs::temp_directory_path() / "statectl-plan-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw Error(ExitCode::failed, "cannot create a directory to plan in", std::strerror(errno));
    m_temp = tmpl;
    std::error_code ec;
    if (fs::exists(dir, ec)) fs::copy(dir, m_temp, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    if (ec) throw Error(ExitCode::failed, fmt::format("cannot copy {} to plan in", dir.string()), ec.message());
    m_dir = m_temp;
  }
  ~Workdir()
  {
    std::error_code ec;
    if (!m_temp.empty()) fs::remove_all(m_temp, ec);
  }
  Workdir(const Workdir&) = delete;
  Workdir& operator=(const Workdir&) = delete;
  const fs::path& path() const { return m_dir; }

private:
  fs::path m_dir;
  fs::path m_temp;
};

// host:port -> HostPort (port default when none is given).
stack::HostPort host_port(const std::string& text, int default_port)
{
  stack::HostPort hp;
  auto colon = text.rfind(':');
  hp.host = text.substr(0, colon);
  hp.port = default_port;
  if (colon != std::string::npos) hp.port = std::atoi(text.substr(colon + 1).c_str());
  return hp;
}

class TerraformTarget final : public Target, private Remote {
public:
  TerraformTarget(const config::Config& c, exec::Runner& r, output::Printer& p) : Remote(c, r, p, render::Target::terraform) {}

  std::string name() const override { return "terraform"; }

  std::optional<std::vector<std::string>> apply_tls_rotation(std::chrono::milliseconds) override
  {
    throw Error(ExitCode::usage, "--apply has nothing to roll out on terraform",
                "the managed databases present their cloud provider's certificates, not the secret store's", "rotate without --apply");
  }

  DeployResult deploy(const DeployOptions&) override
  {
    DeployResult res = deploy_result();
    auto files = render::render(cfg, req); // validates the config before anything runs
    deploy::require_terraform();
    Workdir work(dir, planning());
    // Terraform keeps its state and providers in the directory: files are replaced one by one,
    // never the directory; stale .tf files from an older render are removed.
    std::error_code ec;
    if (auto r = util::make_dirs(work.path(), 0700); !r) throw Error(ExitCode::failed, "cannot create the terraform directory", r.error());
    for (const auto& f : files)
      if (auto r = util::write_file_atomic(work.path() / f.path, f.content, 0644); !r) throw Error(ExitCode::failed, "cannot write the render", r.error());
    for (const auto& entry : fs::directory_iterator(work.path(), ec)) {
      if (entry.path().extension() != ".tf") continue;
      bool rendered = false;
      for (const auto& f : files) rendered = rendered || f.path == entry.path().filename().string();
      if (!rendered) fs::remove(entry.path(), ec);
    }
    if (planning()) printer.plan(fmt::format("render {} files into {} (planned in a copy: {})", files.size(), dir.string(), work.path().string()));
    else printer.info(fmt::format("rendered {} files into {}", files.size(), dir.string()));

    exec::Result plan = tf(work.path(), {"init", "-input=false", "-no-color"}, false, "terraform init failed");
    plan = tf(work.path(), {"plan", "-input=false", "-no-color", "-out=statectl.tfplan"}, false, "terraform plan failed");
    deploy::PlanSummary s = deploy::parse_plan_summary(plan.out);
    res.changes = Changes{s.add, s.change, s.destroy};
    std::string summary = s.parsed ? fmt::format("{} to add, {} to change, {} to destroy", s.add, s.change, s.destroy)
                                   : std::string("(summary not found in terraform's output)");
    if (planning()) {
      printer.plan("apply the plan: " + summary);
      tf(dir, {"apply", "-input=false", "-no-color", "statectl.tfplan"}, true, "terraform apply failed");
      return res;
    }
    printer.info("plan: " + summary);
    tf(dir, {"apply", "-input=false", "-no-color", "statectl.tfplan"}, true, "terraform apply failed");
    res.applied = true;
    res.outputs = shown_outputs(tf(dir, {"output", "-json", "-no-color"}, false, "terraform output failed").out);
    res.verified = true; // the cloud's own health checks gate `apply`; nothing more to probe from here
    return res;
  }

  DestroyResult destroy(const DestroyOptions& opts) override
  {
    DestroyResult res = destroy_result();
    std::error_code ec;
    bool any_tf = false;
    for (const auto& entry : fs::directory_iterator(dir, ec)) any_tf = any_tf || entry.path().extension() == ".tf";
    if (!any_tf) {
      printer.info(fmt::format("nothing to destroy: no terraform render in {} (destroy tears down what `statectl deploy` applied from this "
                               "state directory)",
                               dir.string()));
      return res;
    }
    if (!opts.purge)
      throw Error(ExitCode::usage, fmt::format("destroy --target terraform deletes the managed databases of {} and their data", req.cloud),
                  "there is no way to tear a managed database down and keep its data",
                  "take a backup first, then run `statectl destroy --purge --target terraform`");
    deploy::require_terraform();
    Workdir work(dir, planning());
    tf(work.path(), {"init", "-input=false", "-no-color"}, false, "terraform init failed");
    exec::Result plan = tf(work.path(), {"plan", "-destroy", "-input=false", "-no-color", "-out=statectl-destroy.tfplan"}, false,
                           "terraform plan -destroy failed");
    deploy::PlanSummary s = deploy::parse_plan_summary(plan.out);
    res.changes = Changes{s.add, s.change, s.destroy};
    std::string summary = s.parsed ? fmt::format("{} to destroy", s.destroy) : std::string("(summary not found in terraform's output)");
    if (planning()) {
      printer.plan("apply the plan: " + summary);
      tf(dir, {"apply", "-input=false", "-no-color", "statectl-destroy.tfplan"}, true, "terraform destroy failed");
      return res;
    }
    printer.info("plan: " + summary);
    try {
      tf(dir, {"apply", "-input=false", "-no-color", "statectl-destroy.tfplan"}, true, "terraform destroy failed");
    } catch (const Error& e) {
      bool protection = e.why().find("deletion_protection") != std::string::npos || e.why().find("eletion protection") != std::string::npos;
      throw Error(e.code(), e.what_failed(), e.why(),
                  protection ? "set [terraform] deletion_protection = false, run `statectl deploy --target terraform` to apply it, then destroy again"
                             : fmt::format("terraform's state is in {}; fix the cause and run destroy again", dir.string()));
    }
    fs::remove(dir / "statectl-destroy.tfplan", ec);
    fs::remove(dir / "statectl.tfplan", ec);
    fs::remove(dir / ".applied", ec);
    render::forget_counts(cfg, "terraform");
    // The directory keeps terraform's (now empty) state and its history; it is not deleted.
    res.deleted = {"managed databases"};
    res.destroyed = true;
    res.purged = true;
    return res;
  }

  StatusResult status() override
  {
    require_state();
    exec::Result list = tf(dir, {"state", "list"}, false, "terraform state list failed", false);
    StatusResult s = status_result();
    for (const auto& line : util::split(list.out, '\n')) {
      std::string address = util::trim(line);
      if (address.empty() || address.rfind("data.", 0) == 0) continue;
      ComponentRow c;
      c.name = address;
      c.kind = address.substr(0, address.find('.'));
      c.ready = "in state";
      c.healthy = true;
      s.components.push_back(c);
    }
    s.outputs = shown_outputs(tf(dir, {"output", "-json", "-no-color"}, false, "terraform output failed", false).out);
    if (s.components.empty()) s.problems.push_back("no containers or workloads found");
    s.healthy = s.problems.empty();
    return s;
  }

  void check_scale(const ScaleOptions& opts) const override
  {
    check_scale_common(cfg, opts);
    if (opts.masters)
      throw Error(ExitCode::usage, "cannot change the masters of a Redis Cluster on the terraform target", "",
                  "change [redis] cluster_masters and deploy again");
    if (opts.component == "pooler")
      throw Error(ExitCode::usage, "cannot scale the pooler on the terraform target", "the managed databases have no PgBouncer of statectl's",
                  "scale the pooler on compose or k8s");
    if (opts.component == "postgres" && opts.replicas < 1)
      throw Error(ExitCode::usage, "terraform keeps at least one PostgreSQL standby", "the Multi-AZ / regional HA standby counts as one",
                  "use --replicas 1 or more");
    if (opts.component == "redis" && opts.replicas < 1)
      throw Error(ExitCode::usage, "terraform keeps at least one Redis replica", "automatic failover needs one", "use --replicas 1 or more");
  }

  ScaleResult scale(const ScaleOptions& opts) override
  {
    check_scale(opts);
    ScaleResult res{opts.component, opts.replicas, std::nullopt, "terraform", planning(), !planning()};
    std::string key = scale_key(opts.component);
    std::optional<std::int64_t> before;
    auto recorded = render::recorded_counts(cfg, "terraform");
    if (auto it = recorded.find(key); it != recorded.end()) before = it->second;
    auto put_back = [&] { render::record_count(cfg, "terraform", key, before ? *before : cfg.get_int(config::IntKey::lookup(key))); };
    // Record first so the re-render carries the new count; a plan-only run puts the old one back.
    if (planning()) printer.plan(fmt::format("record {} = {} for terraform", key, opts.replicas));
    render::record_count(cfg, "terraform", key, opts.replicas);
    try {
      DeployOptions d;
      d.timeout = opts.timeout;
      res.apply = deploy(d);
      if (planning()) put_back();
    } catch (...) {
      put_back();
      throw;
    }
    return res;
  }

  // The addresses in terraform's outputs: the managed PostgreSQL (also the clients' path: there
  // is no PgBouncer of statectl's) and the managed Redis; no Sentinels.
  stack::Endpoints endpoints() override
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_endpoints) return *m_endpoints;
    require_state();
    json out = json::parse(tf(dir, {"output", "-json", "-no-color"}, false, "terraform output failed", false).out, nullptr, false);
    auto value = [&](const std::string& k) -> std::string {
      if (!out.is_object() || !out.contains(k) || !out[k].contains("value") || !out[k]["value"].is_string()) return "";
      return out[k]["value"].get<std::string>();
    };
    std::string pg, redis;
    int redis_port = 6379;
    if (req.cloud == "aws") {
      pg = value("postgres_endpoint");
      redis = value("redis_primary_endpoint");
    } else if (req.cloud == "gcp") {
      pg = value("postgres_private_ip");
      redis = value("redis_host");
    } else {
      pg = value("postgres_fqdn");
      redis = value("redis_hostname");
      if (out.is_object() && out.contains("redis_ssl_port") && out["redis_ssl_port"].value("value", json()).is_number())
        redis_port = out["redis_ssl_port"]["value"].get<int>();
    }
    if (pg.empty() || redis.empty())
      throw Error(ExitCode::usage, "the terraform target has no stack to reach",
                  fmt::format("terraform's outputs in {} name no PostgreSQL or Redis address", dir.string()),
                  "run `statectl deploy --target terraform` (it applies the outputs), or pass the --target the stack runs on");
    stack::Endpoints e = base_endpoints(cfg);
    stack::HostPort p = host_port(pg, 5432);
    e.primary.host = p.host;
    e.primary.port = p.port;
    e.pooler = e.primary;
    if (out.is_object() && out.contains("postgres_replica_endpoints") && out["postgres_replica_endpoints"].value("value", json()).is_array())
      for (const auto& r : out["postgres_replica_endpoints"]["value"])
        if (r.is_string()) {
          stack::PgEndpoint replica = e.primary;
          stack::HostPort rp = host_port(r.get<std::string>(), 5432);
          replica.host = rp.host;
          replica.port = rp.port;
          e.replicas.push_back(replica);
        }
    e.redis = host_port(redis, redis_port);
    m_endpoints = e;
    return e;
  }

  exec::Command psql(const ClientOptions&) override { throw cannot_enter("psql"); }
  exec::Command redis_cli(const ClientOptions&) override { throw cannot_enter("redis-cli"); }

  Fault find_fault(const std::string&) override
  {
    throw Error(ExitCode::usage, "failover test cannot inject a fault into managed databases",
                "the terraform target's failover belongs to the cloud provider", "use the provider's failover test (e.g. RDS reboot with failover)");
  }
  void inject(const Fault&) override {}
  bool statectl_heals() const override { return false; }

  stack::PgEndpoint backup_source() override
  {
    throw Error(ExitCode::usage, "statectl backup cannot take a physical backup of a managed database",
                "the terraform target's databases are backed up by the cloud provider", "use the provider's snapshots and point-in-time recovery");
  }

private:
  // terraform -chdir=WHERE ARGS; with_secrets: the passwords as TF_VAR_ variables (plan and
  // apply need them; reading the state and outputs does not, and must not generate any).
  exec::Result tf(const fs::path& where, std::vector<std::string> args, bool mutating, const std::string& what, bool with_secrets = true)
  {
    exec::Command c = deploy::command({"terraform", "-chdir=" + where.string()}, mutating, with_secrets ? hours(2) : minutes(5));
    c.argv.insert(c.argv.end(), args.begin(), args.end());
    c.env = with_secrets ? deploy::terraform_env(cfg, req.cloud, planning())
                         : std::map<std::string, std::string>{{"TF_IN_AUTOMATION", "1"}, {"CHECKPOINT_DISABLE", "1"}};
    return deploy::run_checked(runner, c, what);
  }

  void require_state() const
  {
    std::error_code ec;
    if (!fs::exists(dir / "terraform.tfstate", ec))
      throw Error(ExitCode::failed, fmt::format("no terraform deploy for {} in {}", req.cloud, dir.string()), "there is no terraform.tfstate",
                  fmt::format("run `statectl deploy --target terraform --cloud {}`; with a remote backend, run terraform there", req.cloud));
    deploy::require_terraform();
  }

  static Error cannot_enter(const std::string& command)
  {
    return Error(ExitCode::usage, fmt::format("statectl {} cannot enter a managed database", command),
                 "the terraform target has no container to run the client in",
                 "run the client against the endpoint that `statectl status --target terraform` prints");
  }

  static json shown_outputs(const std::string& text)
  {
    json outputs = json::parse(text, nullptr, false);
    json shown = json::object();
    if (outputs.is_object())
      for (const auto& [k, v] : outputs.items())
        if (!v.value("sensitive", false) && v.contains("value")) shown[k] = v["value"];
    return shown;
  }

  std::mutex m_mutex;
  std::optional<stack::Endpoints> m_endpoints;
};

} // namespace

std::unique_ptr<Target> make_terraform(const config::Config& cfg, exec::Runner& runner, output::Printer& printer)
{
  return std::make_unique<TerraformTarget>(cfg, runner, printer);
}

} // namespace statectl::targets::detail
