// The issuers the issuer controller has checked, as the certificate (and CSR) controllers use
// them. Thread-safe. Keys: "Issuer/<namespace>/<name>" and "ClusterIssuer/<name>".
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "certwright/issuance/issuer.h"

namespace certwright::controllers {

using issuance::IssuerHandle;

// Per-key back-off after failures: 5 s after the first, doubling, at most 1 h; cleared by a
// success. The issuer controller keys it by PKCS#11 token to slow down PIN guessing. Thread-safe.
class FailureBackoff {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  // How long `key` must still wait at `now`; nullopt when it may go ahead.
  std::optional<std::chrono::nanoseconds> Wait(const std::string& key, TimePoint now) const;
  void Failed(const std::string& key, TimePoint now);
  void Succeeded(const std::string& key);
  size_t size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
  }
  static constexpr size_t kMaxEntries = 1024;

 private:
  struct Entry {
    int failures = 0;
    TimePoint next_allowed{};
  };
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

class IssuerStore {
 public:
  static std::string KeyFor(std::string_view kind, std::string_view ns, std::string_view name);

  // Publishes an issuer as Ready, or (handle nullptr) as not Ready with the reason a Certificate
  // shows. Listeners hear of it when readiness or the CA changed.
  void SetReady(const std::string& key, std::shared_ptr<const IssuerHandle> handle);
  void SetNotReady(const std::string& key, std::string message);
  void Erase(const std::string& key);

  std::shared_ptr<const IssuerHandle> Get(const std::string& key) const;
  // Why the issuer is not Ready; nullopt when it is Ready or unknown.
  std::optional<std::string> NotReadyMessage(const std::string& key) const;

  // Called with the key of an issuer whose readiness or CA changed. Add before controllers start.
  void OnChange(std::function<void(const std::string& key)> listener);

 private:
  void Notify(const std::string& key);

  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const IssuerHandle>> ready_;
  std::map<std::string, std::string> not_ready_;
  std::vector<std::function<void(const std::string&)>> listeners_;
};

}  // namespace certwright::controllers
