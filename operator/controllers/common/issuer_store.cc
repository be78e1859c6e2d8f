#include "certwright/controllers/issuer_store.h"

namespace certwright::controllers {

std::optional<std::chrono::nanoseconds> FailureBackoff::Wait(const std::string& key, TimePoint now) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end() || now >= it->second.next_allowed) return std::nullopt;
  return it->second.next_allowed - now;
}

void FailureBackoff::Failed(const std::string& key, TimePoint now) {
  std::lock_guard lock(mutex_);
  if (entries_.size() >= kMaxEntries && entries_.find(key) == entries_.end()) {
    // Bounded: forget the entries whose wait ended longest ago (or, all still waiting, the one
    // that ends first), so many distinct keys cannot grow the map without end.
    auto oldest = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.next_allowed < oldest->second.next_allowed) oldest = it;
    }
    entries_.erase(oldest);
  }
  Entry& e = entries_[key];
  e.failures = std::min(e.failures + 1, 30);
  e.next_allowed = now + std::min<std::chrono::seconds>(std::chrono::seconds(5LL << std::min(e.failures - 1, 20)),
                                                        std::chrono::hours(1));
}

void FailureBackoff::Succeeded(const std::string& key) {
  std::lock_guard lock(mutex_);
  entries_.erase(key);
}

std::string IssuerStore::KeyFor(std::string_view kind, std::string_view ns, std::string_view name) {
  if (kind == "ClusterIssuer") return "ClusterIssuer/" + std::string(name);
  return "Issuer/" + std::string(ns) + "/" + std::string(name);
}

void IssuerStore::SetReady(const std::string& key, std::shared_ptr<const IssuerHandle> handle) {
  bool changed;
  {
    std::lock_guard lock(mutex_);
    auto it = ready_.find(key);
    changed = it == ready_.end() || it->second->ca_sha256 != handle->ca_sha256 ||
              it->second->spec.max_duration != handle->spec.max_duration ||
              it->second->spec.min_duration != handle->spec.min_duration ||
              it->second->reissue_token != handle->reissue_token;
    // Not `changed || erase(...)`: the erase must happen either way.
    const bool was_not_ready = not_ready_.erase(key) > 0;
    changed = changed || was_not_ready;
    ready_[key] = std::move(handle);
  }
  if (changed) Notify(key);
}

void IssuerStore::SetNotReady(const std::string& key, std::string message) {
  bool changed;
  {
    std::lock_guard lock(mutex_);
    changed = ready_.erase(key) > 0;
    auto [it, inserted] = not_ready_.try_emplace(key, message);
    changed = changed || inserted || it->second != message;
    it->second = std::move(message);
  }
  if (changed) Notify(key);
}

void IssuerStore::Erase(const std::string& key) {
  bool changed;
  {
    std::lock_guard lock(mutex_);
    const size_t erased = ready_.erase(key) + not_ready_.erase(key);
    changed = erased > 0;
  }
  if (changed) Notify(key);
}

std::shared_ptr<const IssuerHandle> IssuerStore::Get(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto it = ready_.find(key);
  return it == ready_.end() ? nullptr : it->second;
}

std::optional<std::string> IssuerStore::NotReadyMessage(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto it = not_ready_.find(key);
  if (it == not_ready_.end()) return std::nullopt;
  return it->second;
}

void IssuerStore::OnChange(std::function<void(const std::string& key)> listener) {
  std::lock_guard lock(mutex_);
  listeners_.push_back(std::move(listener));
}

void IssuerStore::Notify(const std::string& key) {
  std::vector<std::function<void(const std::string&)>> listeners;
  {
    std::lock_guard lock(mutex_);
    listeners = listeners_;
  }
  for (const auto& l : listeners) l(key);
}

}  // namespace certwright::controllers
