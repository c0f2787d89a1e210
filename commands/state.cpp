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

std::string read_input(const std::string& source)
{
  if (source == "-") return read_stdin();
  std::error_code dir_ec;
  if (std::filesystem::is_directory(source, dir_ec))
    throw Error(ExitCode::usage, fmt::format("cannot read {}", source), "it is a directory", "give a file, or '-' for stdin");
  std::ifstream f(source, std::ios::binary);
  if (!f) throw Error(ExitCode::usage, fmt::format("cannot read {}", source), std::strerror(errno));
  // A regular file is read in one piece at its size (a stream copy costs two copies of a batch);
  // whatever it grew by meanwhile, and anything without a size (a pipe), is read as a stream.
  std::string data;
  std::error_code ec;
  if (std::filesystem::is_regular_file(source, ec)) {
    auto size = std::filesystem::file_size(source, ec);
    if (!ec && size > 0) {
      data.resize(size);
      f.read(data.data(), static_cast<std::streamsize>(size));
      data.resize(static_cast<std::size_t>(f.gcount()));
      if (!f) return data; // it shrank meanwhile: everything there was is read
    }
  }
  data += read_all(f);
  return data;
}

// Binary keys and values go into JSON as "<field>_b64" when they are not text.
void put_bytes(nlohmann::json& j, const std::string& field, const std::string& bytes)
{
  if (state::is_text(bytes)) j[field] = bytes;
  else j[field + "_b64"] = state::to_base64(bytes);
}

nlohmann::json seconds(const std::optional<state::Millis>& ms)
{
  if (!ms) return nullptr;
  return static_cast<double>(ms->count()) / 1000.0;
}

std::string plan_prefix(Context& ctx) { return fmt::format("[dry-run] {}: ", ctx.backend()); }

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
    if (ctx.printer().json()) {
      nlohmann::json j;
      put_bytes(j, "key", *key);
      put_bytes(j, "value", *value);
      ctx.printer().result(j, [] { return std::string(); });
    } else {
      ctx.printer().out(*value);
    }
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
  sub.footer("A batch is validated completely before anything is written; a malformed line is reported with its\n"
             "line number. PostgreSQL writes a batch in one transaction, 10k keys at a time (COPY; COPY + upsert\n"
             "when keys exist or have a TTL); Redis pipelines it in windows of at most 10k commands.");
  sub.callback([&ctx, o, &sub] {
    auto settings = state::Settings::from(ctx.config());
    if (!o->batch.empty()) {
      if (!o->key.empty() || o->if_absent || !o->ttl.empty() || !o->metadata.empty())
        throw Error(ExitCode::usage, "put --batch takes no KEY, VALUE, --ttl, --metadata or --if-absent",
                    "", "give ttl and metadata per line with --format ndjson");
      auto input = read_input(o->batch);
      auto items = state::parse_batch(input, o->format == "ndjson" ? state::BatchFormat::ndjson : state::BatchFormat::tsv, settings);
      if (ctx.globals().dry_run) {
        ctx.printer().out(fmt::format("{}would write {} keys from {}\n", plan_prefix(ctx), items.size(), o->batch == "-" ? "stdin" : o->batch));
        return;
      }
      auto backend = connect(ctx);
      std::uint64_t written = 0;
      try {
        written = backend->put_batch(items);
      } catch (const Error&) {
        ctx.printer().result({{"written", 0}, {"errors", 1}}, [] { return std::string("written 0, errors 1\n"); });
        throw;
      }
      ctx.printer().result({{"written", written}, {"errors", 0}}, [written] { return fmt::format("written {}, errors 0\n", written); });
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
      ctx.printer().out(fmt::format("{}would put key '{}' ({} bytes{}{})\n", plan_prefix(ctx), o->key, value.size(),
                                    opts.ttl ? ", ttl " + util::format_duration(*opts.ttl) : "", opts.if_absent ? ", if absent" : ""));
      return;
    }
    auto backend = connect(ctx);
    bool written = backend->put(o->key, value, opts);
    if (!written) throw Error(ExitCode::failed, fmt::format("key '{}' already exists", o->key), "--if-absent was given");
    nlohmann::json j{{"written", true}, {"bytes", value.size()}};
    put_bytes(j, "key", o->key);
    ctx.printer().result(j, [] { return std::string(); });
  });
}

void setup_del(CLI::App& sub, Context& ctx)
{
  auto keys = std::make_shared<std::vector<std::string>>();
  sub.add_option("keys", *keys, "Keys to delete")->required();
  sub.callback([&ctx, keys] {
    for (const auto& k : *keys) state::check_key(k);
    if (ctx.globals().dry_run) {
      ctx.printer().out(fmt::format("{}would delete {} keys\n", plan_prefix(ctx), keys->size()));
      return;
    }
    auto n = connect(ctx)->del(*keys);
    ctx.printer().result({{"deleted", n}}, [n] { return fmt::format("deleted {}\n", n); });
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
  sub.footer("Text output is one key per line, sorted; -o json adds size, ttl (seconds) and updated_at.");
  sub.callback([&ctx, o] {
    auto rows = connect(ctx)->keys(o->prefix, static_cast<std::uint64_t>(o->limit));
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& r : rows) {
      nlohmann::json j;
      put_bytes(j, "key", r.key);
      j["size"] = r.size;
      j["ttl"] = seconds(r.ttl);
      j["updated_at"] = r.updated_at_ms ? nlohmann::json(state::format_time_ms(r.updated_at_ms)) : nlohmann::json(nullptr);
      arr.push_back(std::move(j));
    }
    ctx.printer().result({{"keys", arr}}, [&rows] {
      std::string out;
      for (const auto& r : rows) out += r.key + "\n";
      return out;
    });
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
    nlohmann::json j{{"ttl", seconds(t.remaining)}};
    put_bytes(j, "key", *key);
    ctx.printer().result(j, [&t] {
      if (!t.remaining) return std::string("none\n");
      return fmt::format("{:.3f}\n", static_cast<double>(t.remaining->count()) / 1000.0);
    });
  });
}

void setup_gc(CLI::App& sub, Context& ctx)
{
  sub.footer("PostgreSQL keeps expired rows (invisible to get/keys/ttl) until gc deletes them; Redis expires\n"
             "keys itself, so gc deletes nothing there.");
  sub.callback([&ctx] {
    if (ctx.globals().dry_run) {
      ctx.printer().out(plan_prefix(ctx) + "would delete expired keys\n");
      return;
    }
    auto n = connect(ctx)->gc();
    ctx.printer().result({{"deleted", n}}, [n] { return fmt::format("deleted {} expired keys\n", n); });
  });
}

} // namespace statectl::commands
