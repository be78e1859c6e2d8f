// Kubernetes Events (events.k8s.io/v1) about the objects the operator works on, recorded without
// ever slowing down or failing the reconcile that reports them.
//
//   auto events = std::make_shared<kube::EventRecorder>(client, "certwright.dev/controller", pod_name);
//   events->Record(certificate, kube::EventType::kWarning, "IssuanceFailed", "Issue",
//                  "the HSM refused the PIN for token \"ca\"");
//
// Record() only queues: one worker thread writes the Events, at most `qps` per second, so a slow
// or unreachable API server never blocks the caller. Write failures are logged (spdlog), never
// returned; when the queue is full the occurrence is dropped with a log line.
//
// Repeats become a series, as client-go's tools/events does: the same (regarding object, type,
// reason, action, note) within `series_window` (6 minutes) of its last occurrence does not create
// a new Event but PATCHes `series.count` and `series.lastObservedTime` of the first one. Several
// repeats queued before the worker gets to them are written as one PATCH with the latest count.
//
// What goes into an Event (API conventions, and the server's validation of events.k8s.io/v1):
//   - regarding: apiVersion, kind, namespace, name, uid and resourceVersion of the object. Objects
//     that are items of a List response carry no apiVersion/kind: set them before recording.
//   - the Event lives in the object's namespace; for cluster-scoped objects in "default".
//   - name `<object-name>.<16 random hex digits>`, the object name made a valid DNS subdomain.
//   - eventTime: the first occurrence, as a MicroTime.
//   - note: at most 1024 bytes; longer notes are cut on a UTF-8 boundary and end in "...".
//     Invalid UTF-8 in reason, action or note is replaced by U+FFFD.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "certwright/kube/client.h"
#include "certwright/kube/rate_limit.h"
#include "certwright/signer/clock.h"
#include "certwright/signer/random.h"

namespace certwright::kube {

enum class EventType { kNormal, kWarning };

struct EventRecorderOptions {
  const Clock* clock = &SystemClock::Instance();  // eventTime, series times and the series window
  RandomSource* random = nullptr;                 // Event name suffixes; nullptr: SystemRandom
  std::size_t queue_capacity = 256;               // distinct Events waiting to be written
  std::chrono::seconds series_window{6 * 60};     // repeats within this extend the series
  std::size_t max_series = 4096;                  // remembered Events (for series); then forgotten
  // Writes per second, and how many may go at once after a quiet spell (kubelet's eventRecordQPS
  // and eventBurst, 50 and 100, are the controller's defaults). qps <= 0: as fast as the server
  // answers. A burst of issuances then leaves the API server to the status writes that matter,
  // and its Events follow at this rate (or are dropped, counted, once the queue is full).
  double qps = 0;
  int burst = 0;
  // Called for each occurrence dropped because the queue is full (a metric's counter), with the
  // recorder's lock held: it must not record.
  std::function<void()> on_drop;
};

class EventRecorder {
 public:
  static constexpr std::size_t kMaxNoteBytes = 1024;  // events.k8s.io/v1 NoteLengthLimit

  // `reporting_controller` must be a qualified name ("certwright.dev/controller");
  // `reporting_instance` names this process (the pod name), at most 128 bytes.
  EventRecorder(std::shared_ptr<Client> client, std::string reporting_controller, std::string reporting_instance,
                EventRecorderOptions options = {});
  // Stops the worker after the write in progress; Events still queued are dropped (Flush first to
  // write them).
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  // Queues an Event about `regarding_object` (a Kubernetes object as JSON). Never blocks on the
  // network and never fails; thread-safe.
  void Record(const Json& regarding_object, EventType type, std::string_view reason, std::string_view action,
              std::string_view note);

  // Blocks until every Event queued before the call has been written (or has failed and been
  // logged). For tests and for orderly shutdown.
  void Flush();

  // Occurrences dropped because the queue was full, since construction.
  std::uint64_t dropped() const;

 private:
  struct Series;

  void Work();
  void Write(Series& series, int count, std::chrono::system_clock::time_point last_observed, bool created);
  std::string RandomSuffix();  // with mutex_ held
  void ForgetSeries(std::chrono::system_clock::time_point now);

  const std::shared_ptr<Client> client_;
  const std::string reporting_controller_;
  const std::string reporting_instance_;
  const EventRecorderOptions options_;
  TokenBucket rate_;

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable idle_;
  std::unordered_map<std::string, std::shared_ptr<Series>> series_;  // by dedupe key
  std::deque<std::shared_ptr<Series>> queue_;
  bool writing_ = false;
  bool stopping_ = false;
  std::uint64_t dropped_ = 0;
  std::thread worker_;
};

// Kubernetes MicroTime: RFC 3339 in UTC with microseconds, "2006-01-02T15:04:05.000000Z"
// (Lease acquireTime/renewTime, Event eventTime and series.lastObservedTime).
std::string FormatMicroTime(std::chrono::system_clock::time_point t);

// The note as the server accepts it: valid UTF-8, at most kMaxNoteBytes (exposed for tests).
std::string TruncateNote(std::string_view note);

}  // namespace certwright::kube
