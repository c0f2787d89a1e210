#include "commands/scale.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/targets/target.h"
#include "core/util/strings.h"

namespace statectl::commands {

void setup_scale(CLI::App& sub, Context& ctx)
{
  struct Opts {
    std::string component;
    std::int64_t replicas = -1;
    std::int64_t masters = -1;
    std::string timeout = "5m";
  };
  auto o = std::make_shared<Opts>();
  sub.add_option("component", o->component, "What to scale: postgres (standbys), redis (replicas) or pooler (PgBouncer)")
    ->required()
    ->check(CLI::IsMember({"postgres", "redis", "pooler"}));
  auto* replicas = sub.add_option("--replicas", o->replicas,
                 "The new count (bounds as in the config: postgres 0-15, redis 0-15, pooler 1-100; a Redis Cluster: replicas per master, 0-5)");
  auto* masters = sub.add_option("--masters", o->masters, "A Redis Cluster's masters (3-100): new ones get slots by a rebalance, removed ones give theirs away first");
  add_target_option(sub, ctx, "Target to scale (default [project] target)");
  add_cloud_option(sub, ctx);
  sub.add_option("--timeout", o->timeout, "How long to wait for the new members to be ready");
  sub.footer("local: adds or removes standbys / Redis replicas as processes. compose: `up -d --scale SERVICE=N\n"
             "--no-recreate` (with [postgres] ha = \"patroni\": the members patroni-1..N+1 rendered, `up -d\n"
             "--remove-orphans`, the HAProxies recreated one by one, the leader switched over first when its member\n"
             "would go, to the synchronous standby when it stays, else to patroni-1). k8s: `kubectl scale` + `rollout status` (with [postgres] ha = \"patroni\": the members'\n"
             "StatefulSet gets N+1 pods, the leader switched over to member 0 first when its pod would go).\n"
             "terraform: re-plan and apply with the new count.\n"
             "A local Redis Cluster ([redis] mode = \"cluster\") is resized while it serves: new nodes join with `redis-cli --cluster\n"
             "add-node` (new masters get slots by `--cluster rebalance --cluster-use-empty-masters`); leaving masters give their\n"
             "slots away first (`--cluster rebalance --cluster-weight ID=0`), then nodes leave with `--cluster del-node`.\n"
             "The count is validated before anything runs (exit 2) and recorded so `render` and `deploy` reproduce it.");
  sub.callback([&ctx, o, replicas, masters] {
    targets::ScaleOptions opts;
    opts.component = o->component;
    if (replicas->count() && o->replicas < 0)
      throw Error(ExitCode::usage, fmt::format("invalid --replicas {}", o->replicas), "a count is 0 or more");
    opts.replicas = replicas->count() ? o->replicas : -1;
    if (masters->count()) opts.masters = o->masters;
    auto timeout = util::parse_duration(o->timeout);
    if (!timeout) throw Error(ExitCode::usage, fmt::format("invalid --timeout '{}'", o->timeout), timeout.error());
    opts.timeout = *timeout;
    auto& target = ctx.target();
    target.check_scale(opts);
    auto r = target.scale(opts);
    ctx.printer().result(r.to_json(), [&] { return r.to_text(); });
  });
}

} // namespace statectl::commands
