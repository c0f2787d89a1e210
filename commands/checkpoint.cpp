#include "commands/checkpoint.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/state/backend.h"
#include "core/state/common.h"
#include "core/util/strings.h"

namespace statectl::commands {
namespace {

nlohmann::json to_json(const state::CheckpointInfo& i)
{
  return {{"id", i.id}, {"name", i.name}, {"created", state::format_time_ms(i.created_ms)}, {"keys", i.keys}, {"bytes", i.bytes}};
}

} // namespace

void setup_checkpoint(CLI::App& sub, Context& ctx)
{
  sub.require_subcommand(1);
  sub.footer("PostgreSQL: create copies the live rows in one statement and restore replaces the table in one\n"
             "transaction. Redis: create and restore each run as one Lua script, which Redis executes atomically\n"
             "(no other command runs meanwhile; the server is blocked for its duration). Keys with a TTL keep\n"
             "their original expiry time.");
  auto name = std::make_shared<std::string>();
  auto create = sub.add_subcommand("create", "Snapshot every key of the backend");
  create->add_option("--name", *name, "A label for the checkpoint");
  create->callback([&ctx, name] {
    if (ctx.globals().dry_run) {
      ctx.printer().plan(fmt::format("snapshot every key on {}", ctx.backend()));
      return;
    }
    auto info = state::make_backend(ctx.config(), ctx.backend())->checkpoint_create(*name);
    ctx.printer().result(to_json(info), [&info] {
      return fmt::format("created checkpoint {} ({} keys, {})\n", info.id, info.keys, util::format_size(info.bytes));
    });
  });

  auto list = sub.add_subcommand("list", "Checkpoints, oldest first");
  list->callback([&ctx] {
    auto cps = state::make_backend(ctx.config(), ctx.backend())->checkpoint_list();
    nlohmann::json arr = nlohmann::json::array();
    output::Table t{{"ID", "NAME", "CREATED", "KEYS", "BYTES"}, {}};
    for (const auto& c : cps) {
      arr.push_back(to_json(c));
      t.rows.push_back({c.id, c.name, state::format_time_ms(c.created_ms), std::to_string(c.keys), std::to_string(c.bytes)});
    }
    ctx.printer().result({{"checkpoints", arr}}, [&] { return cps.empty() ? std::string("no checkpoints\n") : t.render(); });
  });

  auto id = std::make_shared<std::string>();
  auto restore = sub.add_subcommand("restore", "Replace the whole key space with a checkpoint");
  restore->add_option("id", *id, "Checkpoint id (see checkpoint list)")->required();
  restore->callback([&ctx, id] {
    if (ctx.globals().dry_run) {
      ctx.printer().plan(fmt::format("replace every key on {} with checkpoint {}", ctx.backend(), *id));
      return;
    }
    auto info = state::make_backend(ctx.config(), ctx.backend())->checkpoint_restore(*id);
    ctx.printer().result(to_json(info), [&info] { return fmt::format("restored checkpoint {} ({} keys)\n", info.id, info.keys); });
  });
}

} // namespace statectl::commands
