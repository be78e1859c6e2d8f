// certwright's subcommands: `controller`, `webhook`, and the operator tools `ca init`, `sign`, `version`. Each returns an exit code and
// writes its one-line error to stderr itself.
#pragma once

#include <string>
#include <vector>

namespace certwright::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

int RunCaInit(const std::vector<std::string>& args);
int RunSign(const std::vector<std::string>& args);
int RunVersion(const std::vector<std::string>& args);
int RunController(const std::vector<std::string>& args);
int RunWebhook(const std::vector<std::string>& args);

}  // namespace certwright::cli
