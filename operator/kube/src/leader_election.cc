#include "certwright/kube/leader_election.h"

#include <spdlog/spdlog.h>

namespace certwright::kube {

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using std::chrono::system_clock;

// client-go's JitterFactor: renew_deadline must leave room for more than one retry.
constexpr double kRetryFactor = 1.2;
// Candidates wait retry_period plus up to this fraction of it, so they do not move in lockstep.
constexpr double kJitter = 0.2;

std::string StringAt(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

int IntAt(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int>() : 0;
}

std::string Ms(milliseconds d) { return std::to_string(d.count()) + " ms"; }

}  // namespace

Status ValidateLeaderElectionConfig(const LeaderElectionConfig& c) {
  const std::string what = "leader election: ";
  if (c.lease_namespace.empty()) return InvalidArgument(what + "lease_namespace is empty");
  if (c.lease_name.empty()) return InvalidArgument(what + "lease_name is empty");
  if (c.identity.empty()) return InvalidArgument(what + "identity is empty");
  if (c.clock == nullptr) return InvalidArgument(what + "clock is null");
  if (c.lease_duration < std::chrono::seconds(1)) return InvalidArgument(what + "lease_duration must be at least 1 s");
  if (c.retry_period <= milliseconds(0)) return InvalidArgument(what + "retry_period must be positive");
  const milliseconds lease = c.lease_duration;
  if (lease <= c.renew_deadline) {
    return InvalidArgument(what + "lease_duration (" + Ms(lease) + ") must be greater than renew_deadline (" +
                           Ms(c.renew_deadline) + ")");
  }
  const milliseconds min_deadline(static_cast<milliseconds::rep>(kRetryFactor * c.retry_period.count()));
  if (c.renew_deadline <= min_deadline) {
    return InvalidArgument(what + "renew_deadline (" + Ms(c.renew_deadline) +
                           ") must be greater than 1.2 * retry_period (" + Ms(min_deadline) + ")");
  }
  return Ok();
}

Result<std::unique_ptr<LeaderElector>> LeaderElector::Create(std::shared_ptr<Client> client,
                                                             LeaderElectionConfig config,
                                                             LeaderElectionCallbacks callbacks) {
  if (!client) return InvalidArgument("leader election: client is null");
  CW_RETURN_IF_ERROR(ValidateLeaderElectionConfig(config));
  return std::unique_ptr<LeaderElector>(new LeaderElector(std::move(client), std::move(config), std::move(callbacks)));
}

LeaderElector::LeaderElector(std::shared_ptr<Client> client, LeaderElectionConfig config,
                             LeaderElectionCallbacks callbacks)
    : client_(std::move(client)),
      config_(std::move(config)),
      callbacks_(std::move(callbacks)),
      lease_key_(config_.lease_namespace + "/" + config_.lease_name) {}

LeaderElector::~LeaderElector() { Stop(); }

void LeaderElector::Start() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (started_ || stop_requested_) return;
    started_ = true;
  }
  campaign_ = std::thread([this] { Campaign(); });
  watchdog_ = std::thread([this] { Watchdog(); });
}

void LeaderElector::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_requested_ = true;
  }
  changed_.notify_all();
  if (campaign_.joinable()) campaign_.join();
  if (watchdog_.joinable()) watchdog_.join();
}

bool LeaderElector::IsLeader() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_ == State::kLeading;
}

std::string LeaderElector::Leader() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return leader_;
}

// Acquire, lead, let go: client-go's LeaderElector.Run.
void LeaderElector::Campaign() {
  bool acquired = false;
  for (;;) {
    acquired = TryAcquireOrRenew();
    ReportNewLeader();
    if (acquired || !Sleep(JitteredRetryPeriod())) break;
  }
  if (acquired && BeginLeading()) Renew();
  EndLeading("stopped");
  // Also after a lost renew deadline: if the Lease is still ours, the next candidate need not
  // wait for it to expire. The resourceVersion precondition keeps us from freeing anyone else's.
  if (config_.release_on_cancel) Release();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    campaign_done_ = true;
  }
  changed_.notify_all();
}

bool LeaderElector::BeginLeading() {
  std::lock_guard<std::mutex> callbacks(callbacks_mutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stop_requested_) return false;
    state_ = State::kLeading;
    renew_deadline_at_ = attempt_start_ + config_.renew_deadline;
  }
  changed_.notify_all();
  spdlog::info("leader election: {} became leader (Lease {})", config_.identity, lease_key_);
  if (config_.events) {
    config_.events->Record(lease_, EventType::kNormal, "LeaderElection", "Acquire",
                           config_.identity + " became leader");
  }
  if (callbacks_.on_started_leading) callbacks_.on_started_leading();
  return true;
}

// Renews every retry_period until Stop(), until another holder shows up in the Lease, or until the
// watchdog finds the renew deadline passed.
void LeaderElector::Renew() {
  for (;;) {
    if (!Sleep(config_.retry_period)) return;
    const bool renewed = TryAcquireOrRenew();
    ReportNewLeader();
    std::unique_lock<std::mutex> lock(mutex_);
    if (state_ != State::kLeading) return;
    if (renewed) {
      renew_deadline_at_ = attempt_start_ + config_.renew_deadline;
      lock.unlock();
      changed_.notify_all();
      continue;
    }
    if (!observed_.holder_identity.empty() && !HoldsLease()) {
      lock.unlock();
      // Someone took the Lease (it expired by their observation): leading on is pointless and unsafe.
      EndLeading("the Lease is now held by " + observed_.holder_identity);
      return;
    }
    // Otherwise a failed request: try again until the renew deadline.
  }
}

// Gives up leadership when the renew deadline passes, even while the campaign thread is stuck in
// a request that has not timed out yet.
void LeaderElector::Watchdog() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (campaign_done_) return;
    if (state_ != State::kLeading) {
      changed_.wait(lock, [&] { return campaign_done_ || state_ == State::kLeading; });
      continue;
    }
    const steady_clock::time_point deadline = renew_deadline_at_;
    if (changed_.wait_until(lock, deadline, [&] {
          return campaign_done_ || state_ != State::kLeading || renew_deadline_at_ != deadline;
        })) {
      continue;
    }
    state_ = State::kStoppingLeading;
    lock.unlock();
    changed_.notify_all();
    {
      std::lock_guard<std::mutex> callbacks(callbacks_mutex_);
      spdlog::warn("leader election: {} stopped leading: Lease {} not renewed within {}", config_.identity, lease_key_,
                   Ms(config_.renew_deadline));
      if (callbacks_.on_stopped_leading) callbacks_.on_stopped_leading();
    }
    lock.lock();
    state_ = State::kStoppedLeading;
    changed_.notify_all();
  }
}

// Calls on_stopped_leading if we lead; if the watchdog is calling it, waits for it to return (the
// Lease must not be released while the leader's work is still stopping).
void LeaderElector::EndLeading(const std::string& why) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (state_ != State::kLeading) {
    changed_.wait(lock, [&] { return state_ != State::kStoppingLeading; });
    return;
  }
  state_ = State::kStoppingLeading;
  lock.unlock();
  changed_.notify_all();
  {
    std::lock_guard<std::mutex> callbacks(callbacks_mutex_);
    spdlog::info("leader election: {} stopped leading ({})", config_.identity, why);
    if (callbacks_.on_stopped_leading) callbacks_.on_stopped_leading();
  }
  lock.lock();
  state_ = State::kStoppedLeading;
  changed_.notify_all();
}

bool LeaderElector::TryAcquireOrRenew() {
  attempt_start_ = steady_clock::now();
  const system_clock::time_point now = config_.clock->Now();
  Record desired;
  desired.holder_identity = config_.identity;
  desired.lease_duration_seconds = static_cast<int>(config_.lease_duration.count());
  desired.acquire_time = desired.renew_time = FormatMicroTime(now);

  // 1. The leader renews what it wrote last, without reading it first.
  if (HoldsLease() && ObservedLeaseValid(now)) {
    desired.acquire_time = observed_.acquire_time;
    desired.lease_transitions = observed_.lease_transitions;
    auto updated = Put(desired);
    if (updated.ok()) {
      Observe(desired, *updated);
      return true;
    }
    spdlog::info("leader election: {} renewing Lease {} failed, reading it again: {}", config_.identity, lease_key_,
                 updated.error().message());
  }

  // 2. Read the Lease, or create it.
  auto got = client_->Get(resources::kLeases, config_.lease_namespace, config_.lease_name);
  if (!got.ok()) {
    if (got.error().kind() != ErrorKind::kNotFound) {
      spdlog::warn("leader election: {} reading Lease {}: {}", config_.identity, lease_key_, got.error().message());
      return false;
    }
    Json lease = {{"apiVersion", resources::kLeases.ApiVersion()},
                  {"kind", resources::kLeases.kind},
                  {"metadata", {{"name", config_.lease_name}, {"namespace", config_.lease_namespace}}}};
    SetRecord(lease, desired);
    auto created = client_->Create(resources::kLeases, config_.lease_namespace, lease);
    if (!created.ok()) {
      // kAlreadyExists: another candidate created it first.
      spdlog::info("leader election: {} creating Lease {}: {}", config_.identity, lease_key_,
                   created.error().message());
      return false;
    }
    Observe(desired, *created);
    return true;
  }

  // 3. Expiry counts from when we saw the record change, by our clock, not from its renewTime.
  const Record current = RecordOf(*got);
  if (current != observed_) {
    Observe(current, *got);
  } else {
    lease_ = std::move(*got);  // same record, perhaps a newer resourceVersion
  }
  if (!current.holder_identity.empty() && !HoldsLease() && ObservedLeaseValid(now)) return false;

  // 4. Take it over (expired or released), or renew it after the fast path failed.
  if (HoldsLease()) {
    desired.acquire_time = current.acquire_time;
    desired.lease_transitions = current.lease_transitions;
  } else {
    desired.lease_transitions = current.lease_transitions + 1;
  }
  auto updated = Put(desired);
  if (!updated.ok()) {
    // kConflict: another candidate wrote first.
    spdlog::info("leader election: {} updating Lease {}: {}", config_.identity, lease_key_, updated.error().message());
    return false;
  }
  Observe(desired, *updated);
  return true;
}

void LeaderElector::Release() {
  if (!HoldsLease()) return;
  const std::string now = FormatMicroTime(config_.clock->Now());
  Record released;
  released.lease_duration_seconds = 1;
  released.acquire_time = released.renew_time = now;
  released.lease_transitions = observed_.lease_transitions;
  auto updated = Put(released);
  if (!updated.ok()) {
    spdlog::warn("leader election: {} releasing Lease {}: {}", config_.identity, lease_key_, updated.error().message());
    return;
  }
  Observe(released, *updated);
  spdlog::info("leader election: {} released Lease {}", config_.identity, lease_key_);
}

// PUT with the resourceVersion last read as the precondition.
Result<Json> LeaderElector::Put(const Record& record) {
  Json lease = lease_;
  SetRecord(lease, record);
  return client_->Update(resources::kLeases, config_.lease_namespace, lease);
}

void LeaderElector::Observe(const Record& record, const Json& lease) {
  observed_ = record;
  observed_time_ = config_.clock->Now();
  lease_ = lease;
  std::lock_guard<std::mutex> lock(mutex_);
  leader_ = record.holder_identity;
}

bool LeaderElector::ObservedLeaseValid(system_clock::time_point now) const {
  return observed_time_ + std::chrono::seconds(observed_.lease_duration_seconds) > now;
}

void LeaderElector::ReportNewLeader() {
  const std::string& holder = observed_.holder_identity;
  if (holder.empty() || holder == reported_leader_) return;
  reported_leader_ = holder;
  spdlog::info("leader election: {} sees Lease {} held by {}", config_.identity, lease_key_, holder);
  if (callbacks_.on_new_leader) callbacks_.on_new_leader(holder);
}

bool LeaderElector::Sleep(steady_clock::duration d) {
  std::unique_lock<std::mutex> lock(mutex_);
  return !changed_.wait_for(lock, d, [&] {
    return stop_requested_ || state_ == State::kStoppingLeading || state_ == State::kStoppedLeading;
  });
}

milliseconds LeaderElector::JitteredRetryPeriod() {
  std::uniform_real_distribution<double> extra(0, kJitter);
  return milliseconds(static_cast<milliseconds::rep>(config_.retry_period.count() * (1 + extra(jitter_))));
}

LeaderElector::Record LeaderElector::RecordOf(const Json& lease) {
  Record r;
  auto spec = lease.find("spec");
  if (spec == lease.end() || !spec->is_object()) return r;
  r.holder_identity = StringAt(*spec, "holderIdentity");
  r.lease_duration_seconds = IntAt(*spec, "leaseDurationSeconds");
  r.acquire_time = StringAt(*spec, "acquireTime");
  r.renew_time = StringAt(*spec, "renewTime");
  r.lease_transitions = IntAt(*spec, "leaseTransitions");
  return r;
}

// Sets the election's fields and keeps the others (spec.strategy, spec.preferredHolder).
void LeaderElector::SetRecord(Json& lease, const Record& r) {
  Json& spec = lease["spec"];
  spec["holderIdentity"] = r.holder_identity;
  spec["leaseDurationSeconds"] = r.lease_duration_seconds;
  spec["leaseTransitions"] = r.lease_transitions;
  // An empty MicroTime is not valid JSON for the server: leave the field out.
  for (const auto& [key, value] : {std::pair{"acquireTime", &r.acquire_time}, std::pair{"renewTime", &r.renew_time}}) {
    if (value->empty()) {
      spec.erase(key);
    } else {
      spec[key] = *value;
    }
  }
}

}  // namespace certwright::kube
