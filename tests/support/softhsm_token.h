// A real SoftHSM2 token in a temporary directory, made per test (STYLE.md §13).
//
//   SoftHsmToken token("ca");                  // sets SOFTHSM2_CONF for this process
//   auto key = registry.Create(token.KeyUri("issuing"), KeySpec::EcdsaP256());
//
// Fails the test loudly when SoftHSM2 is not installed: run hack/install-deps.
#pragma once

#include <string>

namespace certwright::testing {

inline constexpr const char* kSoftHsmModule = "/usr/lib/softhsm/libsofthsm2.so";

class SoftHsmToken {
 public:
  explicit SoftHsmToken(std::string label, std::string pin = "5678");
  ~SoftHsmToken();
  SoftHsmToken(const SoftHsmToken&) = delete;
  SoftHsmToken& operator=(const SoftHsmToken&) = delete;

  // Adds another token to the same SoftHSM2 configuration.
  void AddToken(const std::string& label);

  // pkcs11:token=<label>;object=<object>?module-path=...&pin-source=<pin file>
  std::string KeyUri(const std::string& object, const std::string& token_label = "") const;
  // The same with an explicit pin-value (wrong PINs in tests).
  std::string KeyUriWithPin(const std::string& object, const std::string& pin) const;

  const std::string& dir() const { return dir_; }
  const std::string& pin_file() const { return pin_file_; }
  const std::string& conf() const { return conf_; }
  const std::string& label() const { return label_; }

 private:
  std::string dir_;
  std::string conf_;
  std::string pin_file_;
  std::string label_;
  std::string pin_;
};

// A fresh temporary directory removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Runs a shell command; returns its exit status and captures stdout+stderr.
int RunCommand(const std::string& command, std::string* output = nullptr);

}  // namespace certwright::testing
