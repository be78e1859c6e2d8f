// A small command-line parser for the certwright subcommands: `--name value`, `--name=value`,
// repeatable flags, and boolean switches. Errors say which flag is wrong.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "certwright/signer/result.h"

namespace certwright::cli {

class Flags {
 public:
  // `valued`: flags that take a value; `switches`: flags that do not.
  static Result<Flags> Parse(const std::vector<std::string>& args, const std::set<std::string>& valued,
                             const std::set<std::string>& switches);

  std::optional<std::string> Get(const std::string& name) const;
  std::vector<std::string> GetAll(const std::string& name) const;
  bool Has(const std::string& name) const;
  Result<std::string> Require(const std::string& name) const;
  // A whole number from `low` to `high`, or `fallback` when the flag is absent; otherwise an
  // InvalidArgument: --NAME "VALUE" must be a number from LOW to HIGH.
  Result<long> GetNumber(const std::string& name, long fallback, long low, long high) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::multimap<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace certwright::cli
