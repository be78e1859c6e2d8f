#include "support/softhsm_token.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace certwright::testing {

int RunCommand(const std::string& command, std::string* output) {
  std::string cmd = command + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::array<char, 4096> buf{};
  std::string out;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  int status = pclose(pipe);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "certwright-test-XXXXXX").string();
  char* made = mkdtemp(tmpl.data());
  if (made == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return;
  }
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

SoftHsmToken::SoftHsmToken(std::string label, std::string pin) : label_(std::move(label)), pin_(std::move(pin)) {
  if (access(kSoftHsmModule, R_OK) != 0 || RunCommand("command -v softhsm2-util") != 0) {
    ADD_FAILURE() << "SoftHSM2 is not installed (" << kSoftHsmModule
                  << " or softhsm2-util missing): run hack/install-deps";
    return;
  }
  std::string tmpl = (std::filesystem::temp_directory_path() / "certwright-softhsm-XXXXXX").string();
  dir_ = mkdtemp(tmpl.data());
  std::filesystem::create_directory(dir_ + "/tokens");
  conf_ = dir_ + "/softhsm2.conf";
  std::ofstream(conf_) << "directories.tokendir = " << dir_ << "/tokens\nobjectstore.backend = file\nlog.level = ERROR\n";
  pin_file_ = dir_ + "/pin";
  std::ofstream(pin_file_) << pin_ << "\n";
  setenv("SOFTHSM2_CONF", conf_.c_str(), 1);
  AddToken(label_);
}

void SoftHsmToken::AddToken(const std::string& label) {
  std::string out;
  int rc = RunCommand("SOFTHSM2_CONF=" + conf_ + " softhsm2-util --init-token --free --label '" + label +
                          "' --so-pin 12345678 --pin " + pin_,
                      &out);
  if (rc != 0) ADD_FAILURE() << "softhsm2-util --init-token failed: " << out;
}

SoftHsmToken::~SoftHsmToken() {
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

std::string SoftHsmToken::KeyUri(const std::string& object, const std::string& token_label) const {
  return "pkcs11:token=" + (token_label.empty() ? label_ : token_label) + ";object=" + object +
         "?module-path=" + kSoftHsmModule + "&pin-source=" + pin_file_;
}

std::string SoftHsmToken::KeyUriWithPin(const std::string& object, const std::string& pin) const {
  return "pkcs11:token=" + label_ + ";object=" + object + "?module-path=" + kSoftHsmModule + "&pin-value=" + pin;
}

}  // namespace certwright::testing
