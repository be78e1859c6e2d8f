// Leader election over a coordination.k8s.io/v1 Lease, with client-go's leaderelection semantics,
// so that of several operator replicas exactly one reconciles.
//
//   kube::LeaderElectionConfig config;
//   config.lease_namespace = "certwright-system";
//   config.lease_name = "certwright-operator";
//   config.identity = pod_name;
//   kube::LeaderElectionCallbacks callbacks;
//   callbacks.on_started_leading = [&] { controllers.Start(); };
//   callbacks.on_stopped_leading = [&] { controllers.Stop(); lost = true; };  // then exit
//   CW_ASSIGN_OR_RETURN(auto elector, kube::LeaderElector::Create(client, config, callbacks));
//   elector->Start();      // campaigns on its own thread
//   ...
//   elector->Stop();       // on SIGTERM: stops leading, then releases the Lease
//
// How it works (client-go tools/leaderelection):
//   - A candidate acquires the Lease when it does not exist, when its holderIdentity is empty
//     (released), or when it has expired. Expiry is judged by the candidate's own clock: the
//     record has expired when it has not changed for leaseDurationSeconds since the candidate
//     *observed* it change. Remote renewTime values are never compared with the local clock, so
//     clock skew between replicas does not matter.
//   - Every write is a PUT carrying the resourceVersion last read: of two candidates writing at
//     once, one gets 409 Conflict and has lost that round.
//   - Candidates retry every retry_period (plus up to 20% jitter). The leader renews every
//     retry_period; renew_deadline after the start of its last successful write it stops leading
//     (on_stopped_leading), even while a request is still hanging. (client-go counts from the end
//     of the write plus a retry period; counting from the start of the write, whose renewTime the
//     others go by, is stricter. A write slower than renew_deadline therefore never makes a
//     leader.) It also stops at once when it reads the Lease and finds another holder there;
//     client-go keeps trying until the deadline.
//   - Stop() calls on_stopped_leading and then, with release_on_cancel, writes
//     holderIdentity="" and leaseDurationSeconds=1, so another candidate acquires at its next try
//     instead of waiting out the lease.
//   - Lease fields: holderIdentity, leaseDurationSeconds, acquireTime (when this holder took it),
//     renewTime (MicroTime), leaseTransitions (incremented on every change of holder).
//
// Why renew_deadline < lease_duration: a leader stops acting renew_deadline after its last
// successful renewal, a candidate takes over no earlier than lease_duration after the last
// renewal it saw; the difference is the margin against two leaders.
//
// The elector campaigns once. After leadership is lost it does not campaign again: like
// controller-runtime, the process should exit and start afresh (its caches and in-flight work
// date from its time as leader).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "certwright/kube/client.h"
#include "certwright/kube/events.h"
#include "certwright/signer/clock.h"
#include "certwright/signer/result.h"

namespace certwright::kube {

struct LeaderElectionConfig {
  std::string lease_namespace;
  std::string lease_name;
  std::string identity;                               // unique per candidate: the pod name
  std::chrono::seconds lease_duration{15};            // the Lease's leaseDurationSeconds
  std::chrono::milliseconds renew_deadline{10'000};   // the leader stops if not renewed for this long
  std::chrono::milliseconds retry_period{2'000};      // between attempts to acquire or renew
  bool release_on_cancel = true;                      // Stop() frees the Lease for the next candidate
  // The lease record's times and the observation times expiry is judged by. Waits between
  // attempts and the renew deadline use the steady clock.
  const Clock* clock = &SystemClock::Instance();
  // When set, "<identity> became leader" is recorded as an Event on the Lease (as client-go does).
  std::shared_ptr<EventRecorder> events;
};

// Called on the elector's threads; they must return promptly (start work, do not run it) and
// must not call Stop(). on_stopped_leading is called exactly once after on_started_leading, never
// concurrently with it, and before the Lease is released.
struct LeaderElectionCallbacks {
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  // A different holder was observed (ourselves included; not called for a released Lease).
  std::function<void(const std::string& identity)> on_new_leader;
};

// Checks the durations as client-go does; the message names the field.
Status ValidateLeaderElectionConfig(const LeaderElectionConfig& config);

class LeaderElector {
 public:
  static Result<std::unique_ptr<LeaderElector>> Create(std::shared_ptr<Client> client, LeaderElectionConfig config,
                                                       LeaderElectionCallbacks callbacks);
  // Stop().
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Starts campaigning on a thread of the elector's own. Once only; nothing after Stop().
  void Start();
  // Stops campaigning or leading, releases the Lease if held (release_on_cancel) and joins the
  // threads. Waits for a request in flight (at most the client's request timeout). Idempotent,
  // but not to be called from two threads at once.
  void Stop();

  // True between on_started_leading and on_stopped_leading.
  bool IsLeader() const;
  // The holder last observed in the Lease ("" if none yet).
  std::string Leader() const;

 private:
  // The Lease spec fields of the election (client-go's LeaderElectionRecord).
  struct Record {
    std::string holder_identity;
    int lease_duration_seconds = 0;
    std::string acquire_time;
    std::string renew_time;
    int lease_transitions = 0;
    bool operator==(const Record&) const = default;
  };
  enum class State { kCandidate, kLeading, kStoppingLeading, kStoppedLeading };

  LeaderElector(std::shared_ptr<Client> client, LeaderElectionConfig config, LeaderElectionCallbacks callbacks);

  void Campaign();
  void Renew();
  void Watchdog();
  bool BeginLeading();
  void EndLeading(const std::string& why);
  // One attempt; true when we hold the Lease afterwards (client-go's tryAcquireOrRenew).
  bool TryAcquireOrRenew();
  void Release();
  Result<Json> Put(const Record& record);
  void Observe(const Record& record, const Json& lease);
  bool ObservedLeaseValid(std::chrono::system_clock::time_point now) const;
  bool HoldsLease() const { return observed_.holder_identity == config_.identity; }
  void ReportNewLeader();
  // Sleeps for `d` unless Stop() is called or leadership is lost; false when woken by those.
  bool Sleep(std::chrono::steady_clock::duration d);
  std::chrono::milliseconds JitteredRetryPeriod();

  static Record RecordOf(const Json& lease);
  static void SetRecord(Json& lease, const Record& record);

  const std::shared_ptr<Client> client_;
  const LeaderElectionConfig config_;
  const LeaderElectionCallbacks callbacks_;
  const std::string lease_key_;  // "namespace/name", for messages

  // The campaign thread's own.
  Json lease_;      // the Lease as last read or written (its resourceVersion is the precondition)
  Record observed_;
  std::chrono::system_clock::time_point observed_time_;  // when observed_ last changed, by config_.clock
  std::chrono::steady_clock::time_point attempt_start_;   // of the last TryAcquireOrRenew
  std::string reported_leader_;
  std::mt19937 jitter_{std::random_device{}()};

  // Held while a callback runs, so on_stopped_leading (from the watchdog) cannot overtake
  // on_started_leading. Taken before mutex_, never while holding it.
  std::mutex callbacks_mutex_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  State state_ = State::kCandidate;
  bool started_ = false;
  bool stop_requested_ = false;
  bool campaign_done_ = false;
  std::chrono::steady_clock::time_point renew_deadline_at_;
  std::string leader_;  // observed_.holder_identity, for Leader()
  std::thread campaign_;
  std::thread watchdog_;
};

}  // namespace certwright::kube
