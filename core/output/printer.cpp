#include "core/output/printer.h"

#include <algorithm>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "core/exec/redact.h"
#include "core/util/strings.h"

namespace statectl::output {

// Display width of UTF-8 text: counts code points, not bytes (tables hold µ, →, names).
static std::size_t width(std::string_view s)
{
  std::size_t w = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++w;
  return w;
}

std::string Table::render() const
{
  std::vector<std::size_t> widths(headers.size(), 0);
  for (std::size_t i = 0; i < headers.size(); ++i) widths[i] = width(headers[i]);
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], width(row[i]));
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t i = 0; i < widths.size(); ++i) {
      std::string cell = i < cells.size() ? cells[i] : "";
      out += cell;
      if (i + 1 < widths.size()) out += std::string(widths[i] - width(cell) + 2, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(headers);
  for (const auto& row : rows) out += line(row);
  return out;
}

Printer::Printer(std::ostream& out, std::ostream& err, Format format, Verbosity verbosity, bool color)
  : m_out(out), m_err(err), m_format(format), m_verbosity(verbosity), m_color(color)
{
}

void Printer::result(const nlohmann::json& json, const std::function<std::string()>& text)
{
  m_result_printed = true;
  if (m_format == Format::json) {
    if (m_dry_run && json.is_object()) {
      nlohmann::json doc = json;
      doc["dry_run"] = true;
      doc["plan"] = m_plan;
      m_out << doc.dump(2) << "\n";
    } else {
      m_out << json.dump(2) << "\n";
    }
  } else if (text) {
    m_out << text();
  }
  m_out.flush();
}

void Printer::plan(std::string_view what) { plan_command(fmt::format("# would {}", exec::redact(what))); }

void Printer::plan_command(std::string_view line)
{
  if (m_format == Format::json) {
    m_plan.emplace_back(line);
    return;
  }
  m_plan.emplace_back(line);
  m_out << line << "\n";
  m_out.flush();
}

namespace {

// Hands every complete line written to it to a callback (the runner's planned commands).
class LineBuf : public std::streambuf {
public:
  explicit LineBuf(std::function<void(std::string_view)> sink) : m_sink(std::move(sink)) {}

protected:
  int_type overflow(int_type c) override
  {
    if (c == traits_type::eof()) return traits_type::not_eof(c);
    if (c == '\n') {
      m_sink(m_line);
      m_line.clear();
    } else {
      m_line.push_back(static_cast<char>(c));
    }
    return c;
  }

private:
  std::function<void(std::string_view)> m_sink;
  std::string m_line;
};

} // namespace

std::ostream& Printer::plan_stream()
{
  if (!m_plan_stream) {
    m_plan_buf = std::make_unique<LineBuf>([this](std::string_view line) { plan_command(line); });
    m_plan_stream = std::make_unique<std::ostream>(m_plan_buf.get());
  }
  return *m_plan_stream;
}

void Printer::finish()
{
  if (!m_dry_run) return;
  if (m_format == Format::json && !m_result_printed) {
    m_out << nlohmann::json{{"dry_run", true}, {"plan", m_plan}}.dump(2) << "\n";
    m_out.flush();
    m_result_printed = true;
  }
  info(k_dry_run_done);
}

std::ostream& Printer::begin_stream(std::function<void(std::ostream&, const Error&)> close_with_error)
{
  m_result_printed = true;
  m_stream_close = std::move(close_with_error);
  return m_out;
}

void Printer::end_stream()
{
  m_stream_close = nullptr;
  m_out.flush();
}

void Printer::print_json(const std::function<void(nlohmann::json&)>& fill)
{
  nlohmann::json doc;
  fill(doc);
  result(doc, {});
}

void Printer::out(std::string_view text)
{
  m_out << text;
  m_out.flush();
}

void Printer::info(std::string_view line)
{
  if (m_verbosity == Verbosity::quiet) return;
  m_err << exec::redact(line) << "\n";
  m_err.flush();
}

void Printer::detail(std::string_view line)
{
  if (m_verbosity != Verbosity::verbose) return;
  m_err << paint(exec::redact(line), Color::dim) << "\n";
  m_err.flush();
}

void Printer::warn(std::string_view line)
{
  m_err << paint("statectl: warning: ", Color::yellow) << exec::redact(line) << "\n";
  m_err.flush();
}

std::string format_error(const Error& e)
{
  std::string out = "statectl: error: " + exec::redact(e.message()) + "\n";
  if (!e.hint().empty()) out += "hint: " + exec::redact(e.hint()) + "\n";
  return out;
}

nlohmann::json error_json(const Error& e)
{
  nlohmann::json j = {{"code", static_cast<int>(e.code())}, {"message", exec::redact(e.message())}};
  if (!e.hint().empty()) j["hint"] = exec::redact(e.hint());
  return {{"error", j}};
}

void Printer::error(const Error& e)
{
  std::string text = format_error(e);
  if (m_color) text = paint("statectl: error: ", Color::red) + text.substr(std::string("statectl: error: ").size());
  m_err << text;
  m_err.flush();
  if (m_stream_close) {
    auto close = std::move(m_stream_close);
    m_stream_close = nullptr;
    close(m_out, e);
    m_out.flush();
  } else if (m_format == Format::json) {
    m_out << error_json(e).dump(2) << "\n";
    m_out.flush();
  }
}

std::string Printer::paint(std::string_view text, Color c) const
{
  if (!m_color || c == Color::none) return std::string(text);
  const char* code = "";
  switch (c) {
  case Color::red: code = "\033[31m"; break;
  case Color::green: code = "\033[32m"; break;
  case Color::yellow: code = "\033[33m"; break;
  case Color::bold: code = "\033[1m"; break;
  case Color::dim: code = "\033[2m"; break;
  case Color::none: break;
  }
  return fmt::format("{}{}\033[0m", code, text);
}

bool is_tty(int fd) { return ::isatty(fd) == 1; }

Progress::Progress(Printer& printer, std::string label, std::uint64_t total, bool tty)
  : m_printer(printer), m_label(std::move(label)), m_total(total), m_active(tty && !printer.quiet())
{
}

Progress::~Progress() { finish(); }

void Progress::update(std::uint64_t done)
{
  m_done = done;
  draw(false);
}

void Progress::draw(bool force)
{
  if (!m_active) return;
  auto now = std::chrono::steady_clock::now();
  if (!force && now - m_last < std::chrono::milliseconds(100)) return;
  m_last = now;
  std::string line;
  if (m_total > 0) {
    double frac = std::min(1.0, static_cast<double>(m_done) / static_cast<double>(m_total));
    int filled = static_cast<int>(frac * 30);
    line = fmt::format("\r{} [{}{}] {:3.0f}% {}", m_label, std::string(static_cast<std::size_t>(filled), '#'),
                       std::string(static_cast<std::size_t>(30 - filled), '.'), frac * 100, util::format_size(m_done));
  } else {
    line = fmt::format("\r{} {}", m_label, util::format_size(m_done));
  }
  // Erase the rest of the line: a shorter line than the last one ("999 B" after "1.0 MiB")
  // would otherwise leave its tail behind ("999 BiB").
  m_printer.err_stream() << line << "\033[K" << std::flush;
}

void Progress::finish()
{
  if (!m_active) return;
  m_active = false;
  m_printer.err_stream() << "\r\033[K" << std::flush;
}

} // namespace statectl::output
