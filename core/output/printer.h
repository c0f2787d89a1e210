#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
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
      m_result_printed = true;
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
  // Under --dry-run a JSON object result also carries "dry_run": true and the "plan" array.
  void result(const nlohmann::json& json, const std::function<std::string()>& text);

  // --- The one wording of --dry-run (see plan() and finish()). ---

  // Marks this run as a --dry-run: results say so and finish() closes the plan.
  void set_dry_run(bool dry_run) { m_dry_run = dry_run; }
  bool dry_run() const { return m_dry_run; }
  // One step of a --dry-run plan that is not a command line: "# would <what>" (redacted). Text
  // output prints it on its own stdout line at once; JSON output collects it for the result's
  // "plan" array, so stdout stays exactly one JSON document.
  void plan(std::string_view what);
  // A command line of the plan (already redacted by the runner), printed or collected as plan().
  void plan_command(std::string_view line);
  // The stream the runner prints planned commands to: each line becomes a plan_command().
  std::ostream& plan_stream();
  // The plan so far, in order.
  const std::vector<std::string>& plan_steps() const { return m_plan; }
  // Ends a successful run: under --dry-run prints "dry run: nothing was changed" on stderr and,
  // under -o json when the command printed no result, {"dry_run": true, "plan": [...]}.
  void finish();
  // Prints the JSON document that fill builds, as one document on stdout (with the dry-run plan
  // as result() adds it).
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

  // A result too large to hold (keys of millions of rows): the caller writes it to the returned
  // stream piece by piece and calls end_stream(). Should an Error be printed before that (the
  // connection dropped half-way), close_with_error writes what ends the document (under -o json
  // `], "error": {...}}`), so stdout stays one JSON document, and error() prints no second one.
  std::ostream& begin_stream(std::function<void(std::ostream&, const Error&)> close_with_error);
  void end_stream();

  std::ostream& out_stream() { return m_out; }
  std::ostream& err_stream() { return m_err; }

private:
  std::ostream& m_out;
  std::ostream& m_err;
  Format m_format;
  Verbosity m_verbosity;
  bool m_color;
  bool m_dry_run = false;
  bool m_result_printed = false;
  std::function<void(std::ostream&, const Error&)> m_stream_close; // set while a result streams
  std::vector<std::string> m_plan;
  std::unique_ptr<std::streambuf> m_plan_buf;
  std::unique_ptr<std::ostream> m_plan_stream;
};

// The closing line of every --dry-run (stderr).
inline constexpr std::string_view k_dry_run_done = "dry run: nothing was changed";

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
