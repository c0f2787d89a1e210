#pragma once

#include <string>
#include <utility>
#include <vector>

namespace statectl::output {

// Prometheus text exposition format 0.0.4, as the node exporter's textfile collector reads it.
// Samples of one metric name are grouped under one HELP and TYPE line, in first-seen order.
class PromWriter {
public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  // Adds one sample. type is "gauge" or "counter"; a counter's name ends in _total. The help
  // and type of a name's first sample are the ones printed.
  void add(const std::string& name, const std::string& type, const std::string& help, const Labels& labels, double value);

  // The exposition text, one family after another, ending in a newline (empty when no sample).
  std::string render() const;

private:
  struct Family {
    std::string name, type, help;
    std::vector<std::pair<Labels, double>> samples;
  };
  std::vector<Family> m_families;
};

// A sample value the way Prometheus parses it: integers without a fraction, NaN, +Inf, -Inf.
std::string prom_number(double value);

// A label value escaped for the exposition format (backslash, double quote, newline).
std::string prom_escape_label(const std::string& value);

} // namespace statectl::output
