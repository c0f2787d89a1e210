#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace statectl::util {

// A minimal std::expected stand-in (C++23 is not available with g++ 12): either a value or an
// error string. Low-level calls return this; commands turn failures into statectl::Error.
template <typename T, typename E = std::string>
class Expected {
public:
  Expected(T value) : m_v(std::in_place_index<0>, std::move(value)) {}
  static Expected failure(E error) { return Expected(std::in_place_index<1>, std::move(error)); }

  bool ok() const { return m_v.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(m_v); }
  const T& value() const { return std::get<0>(m_v); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const E& error() const { return std::get<1>(m_v); }

private:
  template <std::size_t I, typename U>
  Expected(std::in_place_index_t<I> i, U&& u) : m_v(i, std::forward<U>(u)) {}
  std::variant<T, E> m_v;
};

// Builds the failure side of an Expected: `return util::unexpected("why");`.
template <typename E = std::string>
struct Unexpected {
  E error;
  template <typename T>
  operator Expected<T, E>() const { return Expected<T, E>::failure(error); }
};

inline Unexpected<std::string> unexpected(std::string why) { return {std::move(why)}; }

} // namespace statectl::util
