#include <doctest/doctest.h>

#include <sstream>

#include "core/output/printer.h"

using namespace statectl::output;

TEST_CASE("progress: every redraw erases the rest of the line, so a shorter size leaves nothing behind")
{
  std::ostringstream out, err;
  Printer printer(out, err, Format::text, Verbosity::normal, false);
  {
    Progress p(printer, "restore X", 0, true);
    p.update(1536 * 1024);
  }
  // "\r<label> <size>" then erase-to-end-of-line; finish() clears the whole line.
  CHECK(err.str() == "\rrestore X 1.5 MiB\033[K\r\033[K");
}

TEST_CASE("progress: nothing is drawn off a TTY")
{
  std::ostringstream out, err;
  Printer printer(out, err, Format::text, Verbosity::normal, false);
  {
    Progress p(printer, "restore X", 100, false);
    p.update(50);
  }
  CHECK(err.str().empty());
}
