#include "core/output/prometheus.h"

#include <cmath>
#include <fmt/format.h>

namespace statectl::output {

namespace {

std::string escape_help(const std::string& text)
{
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

} // namespace

std::string prom_number(double value)
{
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) return fmt::format("{:.0f}", value);
  return fmt::format("{}", value);
}

std::string prom_escape_label(const std::string& value)
{
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void PromWriter::add(const std::string& name, const std::string& type, const std::string& help, const Labels& labels,
                     double value)
{
  for (auto& f : m_families)
    if (f.name == name) {
      f.samples.emplace_back(labels, value);
      return;
    }
  m_families.push_back({name, type, help, {{labels, value}}});
}

std::string PromWriter::render() const
{
  std::string out;
  for (const auto& f : m_families) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f.name, escape_help(f.help), f.name, f.type);
    for (const auto& [labels, value] : f.samples) {
      out += f.name;
      if (!labels.empty()) {
        out += '{';
        for (std::size_t i = 0; i < labels.size(); ++i)
          out += fmt::format("{}{}=\"{}\"", i ? "," : "", labels[i].first, prom_escape_label(labels[i].second));
        out += '}';
      }
      out += ' ' + prom_number(value) + '\n';
    }
  }
  return out;
}

} // namespace statectl::output
