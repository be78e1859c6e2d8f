#include "cli/flags.h"

#include <cerrno>
#include <cstdlib>

namespace certwright::cli {

Result<Flags> Flags::Parse(const std::vector<std::string>& args, const std::set<std::string>& valued,
                           const std::set<std::string>& switches) {
  Flags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!arg.starts_with("--")) {
      flags.positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (switches.count(name)) {
      if (value) return InvalidArgument("flag --" + name + " takes no value");
      flags.values_.emplace(name, "true");
      continue;
    }
    if (!valued.count(name)) return InvalidArgument("unknown flag --" + name);
    if (!value) {
      if (i + 1 >= args.size()) return InvalidArgument("flag --" + name + " needs a value");
      value = args[++i];
    }
    flags.values_.emplace(name, *value);
  }
  return flags;
}

std::optional<std::string> Flags::Get(const std::string& name) const {
  auto range = values_.equal_range(name);
  if (range.first == range.second) return std::nullopt;
  return std::prev(range.second)->second;  // the last one wins, as in most CLIs
}

Result<long> Flags::GetNumber(const std::string& name, long fallback, long low, long high) const {
  auto text = Get(name);
  if (!text) return fallback;
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(text->c_str(), &end, 10);
  if (text->empty() || *end != '\0' || errno == ERANGE || n < low || n > high) {
    return InvalidArgument("--" + name + " \"" + *text + "\" must be a number from " + std::to_string(low) + " to " +
                           std::to_string(high));
  }
  return n;
}

std::vector<std::string> Flags::GetAll(const std::string& name) const {
  std::vector<std::string> out;
  auto range = values_.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  return out;
}

bool Flags::Has(const std::string& name) const { return values_.count(name) > 0; }

Result<std::string> Flags::Require(const std::string& name) const {
  auto v = Get(name);
  if (!v || v->empty()) return InvalidArgument("flag --" + name + " is required");
  return *v;
}

}  // namespace certwright::cli
