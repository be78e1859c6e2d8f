#include "certwright/signer/duration.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

namespace certwright {

namespace {

struct Unit {
  std::string_view name;
  double seconds;
};

// Longest names first so "ms" is not read as "m".
constexpr Unit kUnits[] = {{"ns", 1e-9}, {"us", 1e-6}, {"\xC2\xB5s", 1e-6}, {"ms", 1e-3},
                           {"s", 1},     {"m", 60},    {"h", 3600},         {"d", 86400}};

Error Invalid(std::string_view text, std::string_view why) {
  return InvalidArgument("duration \"" + std::string(text) + "\" is invalid: " + std::string(why));
}

}  // namespace

Result<std::chrono::seconds> ParseDuration(std::string_view text) {
  std::string_view s = text;
  if (s.empty()) return Invalid(text, "it is empty; write a number and a unit such as 2160h or 90d");
  bool negative = false;
  if (s.front() == '-' || s.front() == '+') {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::chrono::seconds(0);
  if (s.empty()) return Invalid(text, "a sign must be followed by a number");
  long double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    bool digits = false, dot = false;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || (s[i] == '.' && !dot))) {
      if (s[i] == '.') dot = true; else digits = true;
      ++i;
    }
    if (!digits) return Invalid(text, "expected a number before \"" + std::string(s) + "\"");
    // std::from_chars: no exceptions and no locale (std::stold throws out_of_range for a
    // number of a few thousand digits, and reads "," as the decimal point in some locales).
    long double value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + i, value, std::chars_format::fixed);
    if (ec == std::errc::result_out_of_range) {
      // Out of range one way or the other: too large, or so small it is nothing.
      const std::string_view whole = s.substr(0, std::min(i, s.substr(0, i).find('.')));
      if (whole.find_first_not_of('0') != std::string_view::npos) return Invalid(text, "it is too large");
      value = 0;
      end = s.data() + i;
      ec = std::errc();
    }
    if (ec != std::errc() || end != s.data() + i) {
      // Appended piece by piece: GCC 12 at -O3 warns falsely (-Wrestrict) on "\"" + std::string(...).
      std::string why = "\"";
      why.append(s.substr(0, i));
      why += "\" is not a number";
      return Invalid(text, why);
    }
    s.remove_prefix(i);
    const Unit* unit = nullptr;
    for (const auto& u : kUnits) {
      if (s.starts_with(u.name) && (unit == nullptr || u.name.size() > unit->name.size())) unit = &u;
    }
    if (unit == nullptr) {
      return Invalid(text, s.empty() ? "missing unit; use h, m, s or d (for example 2160h)"
                                     : "unknown unit in \"" + std::string(s) + "\"; use h, m, s, ms or d");
    }
    s.remove_prefix(unit->name.size());
    total += value * unit->seconds;
    if (total > static_cast<long double>(std::numeric_limits<int64_t>::max()) / 1e9) {
      return Invalid(text, "it is too large");
    }
  }
  auto secs = static_cast<int64_t>(std::floor(total));
  return std::chrono::seconds(negative ? -secs : secs);
}

std::string FormatDuration(std::chrono::seconds d) {
  int64_t total = d.count();
  if (total == 0) return "0s";
  std::string out = total < 0 ? "-" : "";
  uint64_t t = total < 0 ? static_cast<uint64_t>(-(total + 1)) + 1 : static_cast<uint64_t>(total);
  uint64_t h = t / 3600, m = (t / 60) % 60, s = t % 60;
  if (h > 0) return out + std::to_string(h) + "h" + std::to_string(m) + "m" + std::to_string(s) + "s";
  if (m > 0) return out + std::to_string(m) + "m" + std::to_string(s) + "s";
  return out + std::to_string(s) + "s";
}

}  // namespace certwright
