#include "commands/checkpoint.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/state/backend.h"
#include "core/state/results.h"

namespace statectl::commands {

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
    ctx.printer().result(state::CheckpointResult{info, false});
  });

  auto list = sub.add_subcommand("list", "Checkpoints, oldest first");
  list->callback([&ctx] {
    ctx.printer().result(state::CheckpointList{state::make_backend(ctx.config(), ctx.backend())->checkpoint_list()});
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
    ctx.printer().result(state::CheckpointResult{info, true});
  });
}

} // namespace statectl::commands
