#include "commands/state.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <charconv>
#include <cstring>
#include <limits>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <sys/stat.h>

#include "core/error.h"
#include "core/state/backend.h"
#include "core/state/batch.h"
#include "core/state/common.h"
#include "core/state/results.h"
#include "core/util/strings.h"

namespace statectl::commands {
namespace {

std::unique_ptr<state::Backend> connect(Context& ctx) { return state::make_backend(ctx.config(), ctx.backend()); }

std::string read_all(std::istream& in)
{
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Standard input, refusing a directory (`put k - < DIR` would otherwise store an empty value).
std::string read_stdin()
{
  struct stat st {};
  if (::fstat(0, &st) == 0 && S_ISDIR(st.st_mode))
    throw Error(ExitCode::usage, "cannot read standard input", "it is a directory", "redirect a file, not a directory");
  return read_all(std::cin);
}

// The --dry-run step of a state command: "<what> on <backend>".
std::string on_backend(Context& ctx, const std::string& what) { return fmt::format("{} on {}", what, ctx.backend()); }

} // namespace

void setup_get(CLI::App& sub, Context& ctx)
{
  auto key = std::make_shared<std::string>();
  sub.add_option("key", *key, "Key to read")->required();
  sub.footer("Prints the raw value (no newline added). Exit 1 when the key is absent or expired.");
  sub.callback([&ctx, key] {
    state::check_key(*key);
    auto backend = connect(ctx);
    auto value = backend->get(*key);
    if (!value) throw Error(ExitCode::failed, fmt::format("key '{}' not found", *key));
    ctx.printer().result(state::GetResult{*key, *value});
  });
}

void setup_put(CLI::App& sub, Context& ctx)
{
  struct Opts {
    std::string key;
    std::string value;
    bool has_value = false;
    std::string ttl;
    std::string metadata;
    bool if_absent = false;
    std::string batch;
    std::string format = "tsv";
  };
  auto o = std::make_shared<Opts>();
  sub.add_option("key", o->key, "Key to write (1 to 1024 bytes)");
  sub.add_option("value", o->value, "Value; '-' or missing reads stdin (binary-safe)");
  sub.add_option("--ttl", o->ttl, "Expire after this duration (300ms, 30s, 5m, 1h; at most 36500d)");
  sub.add_option("--metadata", o->metadata, "JSON object stored beside the value (nested at most 128 levels)");
  sub.add_flag("--if-absent", o->if_absent, "Write only when the key does not exist (atomic); exit 1 when it does");
  sub.add_option("--batch", o->batch, "Write many keys from FILE ('-' = stdin): one key<TAB>value per line");
  sub.add_option("--format", o->format, "Batch format: tsv (key<TAB>value) or ndjson ({\"key\",\"value\"|\"value_b64\",\"ttl\",\"metadata\"})")
    ->check(CLI::IsMember({"tsv", "ndjson"}));
  sub.footer("A malformed line is reported with its line number and nothing is written. PostgreSQL streams the\n"
             "batch into one transaction while reading it, 10k lines at a time (COPY; COPY + upsert when keys exist\n"
             "or have a TTL), so a bad line rolls it all back and memory stays flat; each 10k lines get the whole\n"
             "[state] timeout. Redis cannot roll back: it reads and validates the whole input first, then reads it\n"
             "again and pipelines it in windows of at most 10k commands (a cluster: 16k lines grouped by slot).\n"
             "Memory stays flat on both; stdin (or a pipe) is copied to an unlinked 0600 file in $TMPDIR (else\n"
             "/tmp) to be read twice, which needs room for the batch there (else exit 1, nothing written).");
  sub.callback([&ctx, o, &sub] {
    auto settings = state::Settings::from(ctx.config());
    if (!o->batch.empty()) {
      if (!o->key.empty() || o->if_absent || !o->ttl.empty() || !o->metadata.empty())
        throw Error(ExitCode::usage, "put --batch takes no KEY, VALUE, --ttl, --metadata or --if-absent",
                    "", "give ttl and metadata per line with --format ndjson");
      auto format = o->format == "ndjson" ? state::BatchFormat::ndjson : state::BatchFormat::tsv;
      state::BatchReader reader(o->batch, format, settings);
      if (ctx.globals().dry_run) {
        std::uint64_t n = 0;
        for (state::BatchItem item; reader.next(item);) ++n;
        ctx.printer().plan(on_backend(ctx, fmt::format("write {} keys from {}", n, o->batch == "-" ? "stdin" : o->batch)));
        return;
      }
      auto backend = connect(ctx);
      std::uint64_t written = 0;
      try {
        written = backend->put_batch_stream(reader);
      } catch (const Error& e) {
        // A malformed line is a usage error (nothing was written), not a failed write.
        if (e.code() != ExitCode::usage) ctx.printer().result(state::BatchResult{0, 1});
        throw;
      }
      ctx.printer().result(state::BatchResult{written, 0});
      return;
    }
    if (o->key.empty()) throw Error(ExitCode::usage, "put needs a KEY (or --batch FILE)", "", "usage: statectl put KEY [VALUE|-] [--ttl D]");
    if (sub.count("--format")) throw Error(ExitCode::usage, "--format applies only to put --batch");
    state::PutOptions opts;
    if (!o->ttl.empty()) opts.ttl = state::parse_ttl(o->ttl);
    if (!o->metadata.empty()) opts.metadata = state::normalize_metadata(o->metadata);
    opts.if_absent = o->if_absent;
    std::string value = (sub.count("value") == 0 || o->value == "-") ? read_stdin() : o->value;
    state::check_key(o->key);
    state::check_value(settings, o->key, value.size());
    if (ctx.globals().dry_run) {
      ctx.printer().plan(on_backend(ctx, fmt::format("put key '{}' ({} bytes{}{})", o->key, value.size(),
                                                     opts.ttl ? ", ttl " + util::format_duration(*opts.ttl) : "", opts.if_absent ? ", if absent" : "")));
      return;
    }
    auto backend = connect(ctx);
    bool written = backend->put(o->key, value, opts);
    if (!written) throw Error(ExitCode::failed, fmt::format("key '{}' already exists", o->key), "--if-absent was given");
    ctx.printer().result(state::PutResult{o->key, value.size()});
  });
}

void setup_del(CLI::App& sub, Context& ctx)
{
  auto keys = std::make_shared<std::vector<std::string>>();
  sub.add_option("keys", *keys, "Keys to delete")->required();
  sub.callback([&ctx, keys] {
    for (const auto& k : *keys) state::check_key(k);
    if (ctx.globals().dry_run) {
      ctx.printer().plan(on_backend(ctx, fmt::format("delete {} keys", keys->size())));
      return;
    }
    auto n = connect(ctx)->del(*keys);
    ctx.printer().result(state::DeleteResult{n, false});
  });
}

void setup_keys(CLI::App& sub, Context& ctx)
{
  struct Opts {
    std::string prefix;
    std::int64_t limit = 0;
  };
  auto o = std::make_shared<Opts>();
  sub.add_option("--prefix", o->prefix, "Only keys starting with this");
  // Signed, so that -1 is refused instead of wrapping round to 2^64-1.
  sub.add_option("--limit", o->limit, "At most this many keys (0 = all)")
    ->check(CLI::Validator(
      [](std::string& v) {
        std::int64_t n = 0;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec != std::errc() || end != v.data() + v.size() || n < 0)
          return fmt::format("must be a whole number from 0 to {}, got '{}'", std::numeric_limits<std::int64_t>::max(), v);
        return std::string();
      },
      "", "count"));
  sub.footer("Text output is one key per line, sorted; -o json adds size, ttl (seconds) and updated_at. Keys are\n"
             "written as they are read, a page at a time, so millions of keys need little memory.");
  sub.callback([&ctx, o] {
    auto backend = connect(ctx);
    state::KeyListWriter out(ctx.printer());
    backend->keys(o->prefix, static_cast<std::uint64_t>(o->limit), [&out](const state::KeyInfo& k) { out.row(k); });
    out.finish();
  });
}

void setup_ttl(CLI::App& sub, Context& ctx)
{
  auto key = std::make_shared<std::string>();
  sub.add_option("key", *key, "Key");
  sub.footer("Prints the remaining lifetime in seconds, or 'none' when the key does not expire. Exit 1 when absent.");
  sub.callback([&ctx, key] {
    if (key->empty()) throw Error(ExitCode::usage, "ttl needs a KEY");
    state::check_key(*key);
    auto t = connect(ctx)->ttl(*key);
    if (!t.exists) throw Error(ExitCode::failed, fmt::format("key '{}' not found", *key));
    ctx.printer().result(state::TtlResult{*key, t.remaining});
  });
}

void setup_gc(CLI::App& sub, Context& ctx)
{
  sub.footer("PostgreSQL keeps expired rows (invisible to get/keys/ttl) until gc deletes them; Redis expires\n"
             "keys itself, so gc deletes nothing there.");
  sub.callback([&ctx] {
    if (ctx.globals().dry_run) {
      ctx.printer().plan(on_backend(ctx, "delete expired keys"));
      return;
    }
    auto n = connect(ctx)->gc();
    ctx.printer().result(state::DeleteResult{n, true});
  });
}

} // namespace statectl::commands
