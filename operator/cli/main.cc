// certwright: one binary, many subcommands (DESIGN.md "Layout").
#include <openssl/opensslv.h>

#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"

#ifndef CERTWRIGHT_VERSION
#define CERTWRIGHT_VERSION "0.0.0-dev"
#endif

namespace {

const char* kUsage =
    "usage: certwright <command> [flags]\n"
    "\n"
    "commands:\n"
    "  controller run the Certificate, Issuer and ClusterIssuer controllers\n"
    "  webhook    serve the admission webhook (validation, defaults, issuance policy) over HTTPS\n"
    "  ca init    create a CA key in an HSM/KMS (or use the one the URI names) and a self-signed\n"
    "             CA certificate or a CSR for an offline root\n"
    "  sign       issue a certificate for a PKCS#10 CSR with a CA key\n"
    "  version    print the version\n"
    "\n"
    "Run 'certwright <command> --help' for the flags of a command.\n";

}  // namespace

namespace certwright::cli {

int RunVersion(const std::vector<std::string>& args) {
  if (!args.empty()) {
    std::cerr << "certwright: error: version takes no arguments\n";
    return kExitUsage;
  }
  std::cout << "certwright " << CERTWRIGHT_VERSION << " (" << OPENSSL_VERSION_TEXT << ")\n";
  return kExitOk;
}

}  // namespace certwright::cli

int main(int argc, char** argv) {
  using namespace certwright::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << "certwright: error: no command given\n" << kUsage;
    return kExitUsage;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return kExitOk;
  }
  const std::string command = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "version" || command == "--version") return RunVersion(rest);
  if (command == "sign") return RunSign(rest);
  if (command == "controller") return RunController(rest);
  if (command == "webhook") return RunWebhook(rest);
  if (command == "ca") {
    if (rest.empty() || rest[0] != "init") {
      std::cerr << "certwright: error: unknown ca command" << (rest.empty() ? "" : " \"" + rest[0] + "\"")
                << "; available: ca init\n";
      return kExitUsage;
    }
    return RunCaInit(std::vector<std::string>(rest.begin() + 1, rest.end()));
  }
  std::cerr << "certwright: error: unknown command \"" << command << "\"\n" << kUsage;
  return kExitUsage;
}
