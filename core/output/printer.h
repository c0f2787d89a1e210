#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace statectl::output {

enum class Format { text, json };
enum class Verbosity { quiet, normal, verbose };
enum class Color { none, red, green, yellow, bold, dim };

// An aligned text table: columns padded to the widest cell, two spaces apart, header first.
struct Table {
  std::vector<std::string> headers;
  std::vector<std::vector<std::string>> rows;

  std::string render() const;
};

// The one printer every command writes through (kubectl's shared -o printer). Results go to
// stdout, diagnostics to stderr; colour only when enabled (a TTY and no NO_COLOR/--no-color).
// Text passed to info/verbose/warn is redacted.
class Printer {
public:
  Printer(std::ostream& out, std::ostream& err, Format format, Verbosity verbosity, bool color);

  Format format() const { return m_format; }
  bool json() const { return m_format == Format::json; }
  Verbosity verbosity() const { return m_verbosity; }
  bool quiet() const { return m_verbosity == Verbosity::quiet; }
  bool verbose() const { return m_verbosity == Verbosity::verbose; }
  bool color_enabled() const { return m_color; }

  // Prints a command's typed result: its JSON document under -o json, else to_text(r). R's
  // namespace declares `std::string to_text(const R&)` and either
  // `void to_json(nlohmann::json&, const R&)` (nlohmann's convention, which needs only
  // json_fwd.hpp where result() is called) or `nlohmann::json to_json(const R&)`.
  template <class R>
  void result(const R& r)
  {
    if (!json()) {
      out(to_text(r));
      return;
    }
    print_json([&r](nlohmann::json& doc) {
      if constexpr (requires { to_json(doc, r); })
        to_json(doc, r);
      else
        doc = to_json(r);
    });
  }
  // Prints a command's result: the JSON document under -o json, else text() (if non-empty).
  // (The older form; new commands give their result a type and call result(r).)
  void result(const nlohmann::json& json, const std::function<std::string()>& text);
  // Prints the JSON document that fill builds, as one document on stdout.
  void print_json(const std::function<void(nlohmann::json&)>& fill);
  // Raw text to stdout (no newline added).
  void out(std::string_view text);
  // A progress or status line on stderr, unless quiet.
  void info(std::string_view line);
  // A detail line on stderr, only with -v.
  void detail(std::string_view line);
  // "statectl: warning: ..." on stderr (even when quiet).
  void warn(std::string_view line);
  // Prints an error: stderr always, and {"error": {...}} on stdout under -o json.
  void error(const Error& e);

  // Wraps text in an ANSI colour when colour is enabled.
  std::string paint(std::string_view text, Color c) const;

  std::ostream& out_stream() { return m_out; }
  std::ostream& err_stream() { return m_err; }

private:
  std::ostream& m_out;
  std::ostream& m_err;
  Format m_format;
  Verbosity m_verbosity;
  bool m_color;
};

// Formats an error the way the top level prints it: "statectl: error: ...\nhint: ...\n".
std::string format_error(const Error& e);

// The JSON form of an error: {"error": {"code": N, "message": "..."}} (+ "hint" when present).
nlohmann::json error_json(const Error& e);

// A progress indicator on stderr that draws only on a TTY (and never under -q): a bar when the
// total is known, a counter otherwise. Redraws at most 10 times a second; finish() clears it.
class Progress {
public:
  Progress(Printer& printer, std::string label, std::uint64_t total, bool is_tty);
  ~Progress();
  void update(std::uint64_t done);
  void finish();

private:
  void draw(bool force);
  Printer& m_printer;
  std::string m_label;
  std::uint64_t m_total;
  std::uint64_t m_done = 0;
  bool m_active;
  std::chrono::steady_clock::time_point m_last{};
};

// Whether fd is a terminal (colour and progress are off otherwise).
bool is_tty(int fd);

} // namespace statectl::output
