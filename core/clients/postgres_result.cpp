// The typed results and parameters of the PostgreSQL client (core/clients/postgres.h).
#include "core/clients/postgres.h"

#include <charconv>
#include <cstdlib>
#include <libpq-fe.h>

#include <fmt/format.h>

namespace statectl::clients {

namespace {

template <typename T>
T parse_number(const PgField& f)
{
  if (f.is_null()) throw PgError(PgFailure{PgFailureKind::sql, "", "unexpected NULL value"});
  T v{};
  auto s = f.view();
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size())
    throw PgError(PgFailure{PgFailureKind::sql, "", fmt::format("cannot convert '{}' to a number", s)});
  return v;
}

} // namespace

template <>
std::string PgField::as<std::string>() const
{
  if (m_null) throw PgError(PgFailure{PgFailureKind::sql, "", "unexpected NULL value"});
  return std::string(m_value, size());
}
template <>
bool PgField::as<bool>() const
{
  if (m_null) throw PgError(PgFailure{PgFailureKind::sql, "", "unexpected NULL value"});
  return m_length > 0 && (m_value[0] == 't' || m_value[0] == '1');
}
template <>
int PgField::as<int>() const { return parse_number<int>(*this); }
template <>
long PgField::as<long>() const { return parse_number<long>(*this); }
template <>
long long PgField::as<long long>() const { return parse_number<long long>(*this); }
template <>
unsigned long PgField::as<unsigned long>() const { return parse_number<unsigned long>(*this); }
template <>
unsigned long long PgField::as<unsigned long long>() const { return parse_number<unsigned long long>(*this); }
template <>
double PgField::as<double>() const
{
  if (m_null) throw PgError(PgFailure{PgFailureKind::sql, "", "unexpected NULL value"});
  try {
    return std::stod(std::string(m_value, size()));
  } catch (const std::exception&) {
    throw PgError(PgFailure{PgFailureKind::sql, "", fmt::format("cannot convert '{}' to a number", view())});
  }
}

std::string PgField::bytes() const
{
  if (m_null) return {};
  const char* s = m_value;
  std::size_t n = size();
  if (n < 2 || s[0] != '\\' || s[1] != 'x') {
    std::size_t len = 0;
    unsigned char* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(s), &len);
    std::string out(reinterpret_cast<char*>(raw), len);
    PQfreemem(raw);
    return out;
  }
  auto nib = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  std::string out((n - 2) / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>((nib(s[2 + 2 * i]) << 4) | nib(s[3 + 2 * i]));
  return out;
}

PgField PgRow::operator[](int column) const
{
  PGresult* r = m_result.get();
  if (!r || column < 0 || column >= PQnfields(r) || m_row >= PQntuples(r))
    throw PgError(PgFailure{PgFailureKind::sql, "", fmt::format("no column {} in row {}", column, m_row)});
  return PgField(PQgetvalue(r, m_row, column), PQgetlength(r, m_row, column), PQgetisnull(r, m_row, column) != 0);
}

int PgRow::size() const { return m_result ? PQnfields(m_result.get()) : 0; }

PgResult::PgResult(pg_result* r) : m_r(r, PQclear) {}

int PgResult::size() const { return m_r ? PQntuples(m_r.get()) : 0; }
int PgResult::columns() const { return m_r ? PQnfields(m_r.get()) : 0; }
int PgResult::column(const std::string& name) const { return m_r ? PQfnumber(m_r.get(), name.c_str()) : -1; }

std::uint64_t PgResult::affected_rows() const
{
  const char* n = m_r ? PQcmdTuples(m_r.get()) : "";
  return n && *n ? std::strtoull(n, nullptr, 10) : 0;
}

PgParam PgParam::binary(std::string_view bytes)
{
  PgParam p;
  p.m_value.assign(bytes.data(), bytes.size());
  p.m_binary = true;
  return p;
}

} // namespace statectl::clients
