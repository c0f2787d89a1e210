#include "core/secrets/store.h"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/exec/redact.h"
#include "core/util/fs.h"

namespace statectl::secrets {

namespace fs = std::filesystem;

static const std::string k_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string generate_password(std::size_t length)
{
  // 64 symbols: the low 6 bits of a byte are uniform over them, so no rejection is needed for
  // this alphabet; the loop still rejects in case the alphabet changes to a non-power of two.
  const unsigned limit = 256 - (256 % k_alphabet.size());
  std::string out;
  unsigned char buf[64];
  while (out.size() < length) {
    if (RAND_bytes(buf, sizeof buf) != 1) throw Error(ExitCode::failed, "cannot generate a password", "OpenSSL RAND_bytes failed");
    for (unsigned char b : buf) {
      if (b >= limit) continue;
      out += k_alphabet[b % k_alphabet.size()];
      if (out.size() == length) break;
    }
  }
  return out;
}

Store::Store(const config::Config& cfg)
  : m_dir(cfg.get_string("secrets.dir").empty() ? cfg.state_dir() / "secrets" : cfg.path("secrets.dir"))
{
}

Store::Store(fs::path dir) : m_dir(std::move(dir)) {}

static void check_private(const fs::path& path, bool is_dir)
{
  int mode = util::file_mode(path);
  if (mode < 0) return;
  if (mode & 077)
    throw Error(ExitCode::usage, fmt::format("refusing to read {}", path.string()),
                fmt::format("its mode is {:04o}, readable by group or others", mode),
                fmt::format("run: chmod {} {}", is_dir ? "0700" : "0600", path.string()));
}

static void check_name(const std::string& name)
{
  bool ok = !name.empty() && name.size() <= 128 && name[0] != '.' &&
            std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; });
  if (!ok) throw Error(ExitCode::usage, fmt::format("invalid secret name '{}'", name), "use letters, digits, '-', '_' and '.'");
}

std::optional<std::string> Store::get(const std::string& name) const
{
  check_name(name);
  fs::path p = m_dir / name;
  std::error_code ec;
  if (!fs::exists(p, ec)) return std::nullopt;
  check_private(m_dir, true);
  check_private(p, false);
  auto data = util::read_file(p);
  if (!data) throw Error(ExitCode::failed, fmt::format("cannot read secret '{}'", name), data.error());
  exec::register_secret(*data);
  return *data;
}

std::string Store::require(const std::string& name) const
{
  auto v = get(name);
  if (!v)
    throw Error(ExitCode::usage, fmt::format("secret '{}' not found in {}", name, m_dir.string()), "",
                "run 'statectl secrets generate' (or 'statectl deploy', which generates what is missing)");
  return *v;
}

void Store::put(const std::string& name, const std::string& value)
{
  check_name(name);
  exec::register_secret(value);
  if (auto r = util::make_dirs(m_dir, 0700); !r) throw Error(ExitCode::failed, "cannot create secret store", r.error());
  ::chmod(m_dir.c_str(), 0700);
  if (auto r = util::write_file_atomic(m_dir / name, value, 0600); !r)
    throw Error(ExitCode::failed, fmt::format("cannot write secret '{}'", name), r.error());
}

std::string Store::ensure(const std::string& name, std::size_t length)
{
  if (auto v = get(name)) return *v;
  std::string value = generate_password(length);
  put(name, value);
  return value;
}

bool Store::exists(const std::string& name) const
{
  check_name(name);
  return fs::exists(m_dir / name);
}

std::vector<std::string> Store::names() const
{
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(m_dir, ec))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace statectl::secrets
