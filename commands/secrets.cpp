#include "commands/secrets.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/config/config.h"
#include "core/error.h"
#include "core/secrets/manage.h"
#include "core/secrets/push.h"
#include "core/secrets/results.h"
#include "core/secrets/store.h"
#include "core/secrets/tls.h"
#include "core/stack/secrets_apply.h"
#include "core/stack/tls_apply.h"
#include "core/targets/target.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::commands {

namespace fs = std::filesystem;

namespace {

secrets::Store open_store(Context& ctx) { return secrets::Store(ctx.config(), ctx.environment()); }

void setup_generate(CLI::App& parent, Context& ctx)
{
  struct Opts {
    std::vector<std::string> names;
    std::size_t length = secrets::k_default_length;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("generate", "Generate passwords (default: the set the stack needs); existing ones are kept");
  cmd->add_option("names", o->names, "Secret names (default: postgres replication app pgbouncer redis)");
  cmd->add_option("--length", o->length, fmt::format("Characters of [A-Za-z0-9_-] ({}-{})", secrets::k_min_length, secrets::k_max_length))
    ->capture_default_str();
  cmd->add_flag("--force", o->force, "Replace existing values (the old ones are kept as dated backups)");
  cmd->callback([&ctx, o] {
    auto store = open_store(ctx);
    bool plan = ctx.globals().dry_run;
    auto entries = secrets::generate(store, o->names, o->length, o->force, plan);
    ctx.printer().result(secrets::GenerateReport{store.dir().string(), store.encrypting(), plan, entries});
  });
}

void setup_tls(CLI::App& parent, Context& ctx)
{
  struct Opts {
    std::string cn;
    std::vector<std::string> sans;
    int days = 365;
    std::string key = "ec-p256";
    bool rotate = false;
    bool apply = false;
    std::string timeout = "3m";
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("tls", "Issue a server certificate signed by the store's CA (created when absent) with OpenSSL");
  cmd->add_option("--cn", o->cn, "Common name of the server certificate (default [project] name)");
  cmd->add_option("--san", o->sans, "Extra DNS name or IP address (repeatable); the services' names on every target are always included");
  cmd->add_option("--days", o->days, "Validity of the server certificate in days (1-3650)")->capture_default_str();
  cmd->add_option("--key", o->key, "Key algorithm")->check(CLI::IsMember({"ec-p256", "rsa4096"}))->capture_default_str();
  cmd->add_flag("--rotate", o->rotate, "Replace the existing server certificate (exit 2 when none was issued)");
  cmd->add_flag("--apply", o->apply,
                "Then make the running stack ([tls] enabled; local or k8s) present it without a restart: PostgreSQL reload,\n"
                "PgBouncer RELOAD, Redis and Sentinel CONFIG SET tls-cert-file, local Patroni SIGHUP (its REST API; etcd reads\n"
                "it per handshake); verified on a fresh handshake (k8s: the Secret is pushed, and the servers reload once the\n"
                "kubelet has updated every pod's /tls volume)");
  cmd->add_option("--timeout", o->timeout, "k8s --apply: longest wait for the pods to see the new certificate")->capture_default_str();
  add_target_option(*cmd, ctx, "The stack --apply rolls the certificate out to (default [project] target; local or k8s)");
  cmd->footer("The CA (ca.crt, ca.key) is created once and reused; every run issues a new tls.crt/tls.key and keeps the\n"
              "previous pair as dated backups. `secrets tls --rotate --apply` rolls a new certificate out to the local or k8s stack.\n"
              "When the store holds the PostgreSQL application role's client certificate (pg-app.crt, pg-app.key: CN =\n"
              "[postgres] app_user, issued by the local stack's first deploy with TLS; the state commands log in to\n"
              "PgBouncer with it) every run reissues it too, and --apply writes it to <state dir>/tls/ (0600).");
  cmd->callback([&ctx, o] {
    auto& cfg = ctx.config();
    const auto timeout = duration_flag("--timeout", o->timeout); // checked before anything is issued
    auto store = open_store(ctx);
    if (o->rotate && !store.exists(secrets::k_tls_cert))
      throw Error(ExitCode::usage, "nothing to rotate", fmt::format("{} has no tls.crt", store.dir().string()), "run 'statectl secrets tls' first");
    secrets::tls::Request req;
    req.cn = o->cn.empty() ? cfg.get_string("project.name") : o->cn;
    req.sans = secrets::tls::default_sans(cfg);
    for (const auto& s : o->sans)
      if (std::find(req.sans.begin(), req.sans.end(), s) == req.sans.end()) req.sans.push_back(s);
    req.days = o->days;
    req.key = *secrets::tls::parse_key_type(o->key);
    bool plan = ctx.globals().dry_run;
    auto r = secrets::issue_tls(store, req, plan);
    std::vector<std::string> applied;
    if (o->apply) {
      auto target = targets::make(cfg, ctx.runner(), ctx.printer());
      auto steps = target->apply_tls_rotation(timeout);
      applied = steps ? *steps : stack::apply_tls_rotation(cfg, ctx.runner(), ctx.printer());
    }
    ctx.printer().result(secrets::TlsReport{store.dir().string(), plan, r, applied});
  });
}

void setup_secrets_list(CLI::App& parent, Context& ctx)
{
  auto* cmd = parent.add_subcommand("list", "Names, kinds, dates and certificate expiry of stored secrets (never a value)");
  cmd->callback([&ctx] {
    auto store = open_store(ctx);
    auto entries = secrets::list(store);
    if (entries.empty() && !ctx.printer().json())
      ctx.printer().info(fmt::format("no secrets in {}; run 'statectl secrets generate'", store.dir().string()));
    ctx.printer().result(secrets::SecretList{store.dir().string(), entries});
  });
}

void setup_secrets_get(CLI::App& parent, Context& ctx)
{
  auto name = std::make_shared<std::string>();
  auto* cmd = parent.add_subcommand("get", "Print a secret's value on stdout (raw; exit 1 when absent)");
  cmd->add_option("name", *name, "Secret name")->required();
  cmd->callback([&ctx, name] {
    auto store = open_store(ctx);
    auto v = store.get(*name);
    if (!v)
      throw Error(ExitCode::failed, fmt::format("secret '{}' not found in {}", *name, store.dir().string()), "",
                  fmt::format("run 'statectl secrets generate {}'", *name));
    ctx.printer().result(secrets::SecretValue{*name, *v});
  });
}

void setup_rotate(CLI::App& parent, Context& ctx)
{
  struct Opts {
    std::string name;
    bool apply = false;
    bool store_only = false;
    std::size_t length = secrets::k_default_length;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("rotate", "Replace a secret with a new value, keeping the old one as a dated backup");
  cmd->add_option("name", o->name, "Secret name (a password, or tls.crt/tls.key, or ca.crt/ca.key for a new CA)")->required();
  cmd->add_flag("--apply", o->apply,
                "Local and compose stacks: have the running servers take the new password without downtime (PostgreSQL ALTER "
                "ROLE with a SCRAM verifier, PgBouncer auth file + RELOAD, Redis ACL SETUSER of the user whose password it is "
                "(redis: statectl-admin, redis-app, redis-replication with masterauth, redis-sentinel with the Sentinels' "
                "auth-pass; requirepass on a stack without ACL users); "
                "compose: inside the running containers, and the secret files), then verify a fresh connection");
  cmd->add_flag("--store-only", o->store_only,
                "Change only the store, even though the deployed local stack uses the password (you roll it out yourself)");
  cmd->add_option("--length", o->length, "Characters of a new password")->capture_default_str();
  cmd->footer("On a deployed local stack a password it uses is rotated with --apply; without --apply (or --store-only)\n"
              "rotate refuses with exit 2 and changes nothing, as the servers would keep the old value.");
  add_target_option(*cmd, ctx, "The stack whose servers --apply updates (default [project] target; --apply works on local and compose)");
  cmd->callback([&ctx, o] {
    auto& cfg = ctx.config();
    if (o->apply && o->store_only) throw Error(ExitCode::usage, "--apply and --store-only exclude each other");
    if (!o->apply && !o->store_only) stack::refuse_store_only_rotation(cfg, o->name);
    auto store = open_store(ctx);
    bool plan = ctx.globals().dry_run;
    secrets::ApplyFn apply;
    if (o->apply && !plan) {
      // An earlier rotation killed half-way is settled first, so this one starts from agreement.
      for (const auto& line : stack::settle_rotations(cfg, store, ctx.runner(), ctx.printer())) ctx.printer().info(line);
      auto target = targets::make(cfg, ctx.runner(), ctx.printer());
      apply = target->secrets_applier(store, o->name);
      if (!apply) apply = stack::local_stack_applier(cfg, store, ctx.runner(), ctx.printer(), o->name);
    }
    auto r = secrets::rotate(cfg, store, o->name, o->length, plan, apply);
    ctx.printer().result(secrets::RotateReport{r, plan, o->apply});
  });
}

void setup_push(CLI::App& parent, Context& ctx)
{
  auto* cmd = parent.add_subcommand("push", "Send the secrets to a target: a Kubernetes Secret (kubectl apply, stdin) or Compose secret files");
  add_target_option(*cmd, ctx, "Where to push: k8s or compose (default [project] target)");
  cmd->callback([&ctx] {
    auto& cfg = ctx.config();
    std::string t = cfg.get_string("project.target");
    if (t != "k8s" && t != "compose")
      throw Error(ExitCode::usage, fmt::format("cannot push secrets to target '{}'", t), "push sends secrets to k8s or compose",
                  "use --target k8s or --target compose (the local stack reads the store directly)");
    auto store = open_store(ctx);
    auto r = t == "k8s" ? secrets::push_k8s(cfg, store, ctx.runner()) : secrets::push_compose(cfg, store, ctx.runner());
    ctx.printer().result(r);
  });
}

void setup_keygen(CLI::App& parent, Context& ctx)
{
  struct Opts {
    std::string out;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("keygen", "Create a master key for encryption at rest (a 0600 file with --out, else stdout)");
  cmd->add_option("--out", o->out, "Write the key to this file (mode 0600; a missing directory is created, mode 0700) for [secrets] key_file");
  cmd->add_flag("--force", o->force, "Overwrite an existing key file (values encrypted with the old key become unreadable)");
  cmd->callback([&ctx, o] {
    auto key = secrets::MasterKey::generate();
    if (o->out.empty()) {
      ctx.printer().result({{"key", key.hex()}, {"key_id", key.id()}}, [&] { return key.hex() + "\n"; });
      return;
    }
    fs::path path = util::resolve_path(o->out, fs::current_path());
    if (fs::exists(path) && !o->force)
      throw Error(ExitCode::usage, fmt::format("{} already exists", path.string()), "",
                  "use --force to replace it (secrets encrypted with the old key become unreadable)");
    if (ctx.globals().dry_run) {
      ctx.printer().plan(fmt::format("write a new master key to {} (mode 0600)", path.string()));
      return;
    }
    // A missing directory (e.g. /etc/statectl on a fresh machine) is created, readable by its owner only.
    if (fs::path dir = path.parent_path(); !dir.empty() && !fs::exists(dir)) {
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (!ec) fs::permissions(dir, fs::perms::owner_all, ec);
      if (ec) throw Error(ExitCode::failed, fmt::format("cannot create the directory {}", dir.string()), ec.message());
    }
    if (auto r = util::write_file_atomic(path, key.hex() + "\n", 0600); !r) throw Error(ExitCode::failed, "cannot write the key file", r.error());
    ctx.printer().result(secrets::KeygenResult{path.string(), key.id()});
  });
}

} // namespace

void setup_secrets(CLI::App& sub, Context& ctx)
{
  sub.require_subcommand(1);
  sub.footer(
    "Values are never printed except by 'secrets get'. The store is [secrets] dir (default <state dir>/secrets), 0700/0600;\n"
    "with STATECTL_MASTER_KEY or [secrets] key_file set, values are encrypted at rest with AES-256-GCM.");
  setup_generate(sub, ctx);
  setup_tls(sub, ctx);
  setup_secrets_list(sub, ctx);
  setup_secrets_get(sub, ctx);
  setup_rotate(sub, ctx);
  setup_push(sub, ctx);
  setup_keygen(sub, ctx);
}

} // namespace statectl::commands
