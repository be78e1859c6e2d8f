#include "certwright/kube/events.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>

#include "certwright/signer/ossl.h"

namespace certwright::kube {

namespace {

using std::chrono::system_clock;

constexpr int kWriteAttempts = 3;
constexpr std::size_t kNameSuffixBytes = 8;  // 16 hex digits
constexpr std::size_t kMaxNameBytes = 253;   // a DNS subdomain (metadata.name of an Event)

// The string at `key` of a JSON object, or "" (never throws on other shapes).
std::string StringAt(const Json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629 §4), or 0 when it is not one.
std::size_t Utf8SequenceLength(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return n;
}

// nlohmann::json refuses to serialise invalid UTF-8 (it throws), and notes often quote bytes
// from devices and peers: replace each invalid byte by U+FFFD.
std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

bool IsDnsLabelChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }
bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// RFC 1123 subdomain, as the API server validates metadata.name.
bool IsDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameBytes) return false;
  std::size_t start = 0;
  for (;;) {
    std::size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || !IsAlnum(label.front()) || !IsAlnum(label.back())) return false;
    for (char c : label) {
      if (!IsDnsLabelChar(c)) return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// `<object-name>.<suffix>`. Some objects' names are not DNS subdomains (ClusterRoles such as
// "system:auth-delegator"); theirs are lower-cased with other characters turned into '-'.
std::string EventName(const std::string& object_name, const std::string& suffix) {
  const std::size_t max_prefix = kMaxNameBytes - 1 - suffix.size();
  if (object_name.size() <= max_prefix && IsDnsSubdomain(object_name)) return object_name + "." + suffix;
  std::string prefix;
  for (char c : object_name) {
    if (prefix.size() == max_prefix) break;
    char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (IsAlnum(lower)) {
      prefix += lower;
    } else if (!prefix.empty() && prefix.back() != '-') {
      prefix += '-';
    }
  }
  while (!prefix.empty() && prefix.back() == '-') prefix.pop_back();
  if (prefix.empty()) prefix = "object";
  return prefix + "." + suffix;
}

const char* EventTypeName(EventType type) { return type == EventType::kWarning ? "Warning" : "Normal"; }

}  // namespace

std::string FormatMicroTime(system_clock::time_point t) {
  const long long micros = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  long long seconds = micros / 1'000'000;
  long long fraction = micros % 1'000'000;
  if (fraction < 0) {
    fraction += 1'000'000;
    --seconds;
  }
  const std::time_t tt = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%06lldZ", date, fraction);
  return out;
}

std::string TruncateNote(std::string_view note) {
  std::string valid = ValidUtf8(note);
  if (valid.size() <= EventRecorder::kMaxNoteBytes) return valid;
  static constexpr std::string_view kEllipsis = "...";
  std::size_t cut = EventRecorder::kMaxNoteBytes - kEllipsis.size();
  // Cut before a continuation byte would split a character.
  while (cut > 0 && (static_cast<unsigned char>(valid[cut]) & 0xC0) == 0x80) --cut;
  valid.resize(cut);
  valid += kEllipsis;
  return valid;
}

// One Event and its repeats. Shared by the dedupe map and the queue; fields other than `event`
// are guarded by EventRecorder::mutex_; `event` is the worker's once queued.
struct EventRecorder::Series {
  std::string ns;
  Json event;                               // as created, without series
  int count = 1;                            // occurrences seen
  system_clock::time_point last_observed;
  int written_count = 0;                    // occurrences the server knows of; 0: not created
  bool queued = false;
};

EventRecorder::EventRecorder(std::shared_ptr<Client> client, std::string reporting_controller,
                             std::string reporting_instance, EventRecorderOptions options)
    : client_(std::move(client)),
      reporting_controller_(std::move(reporting_controller)),
      reporting_instance_(std::move(reporting_instance)),
      options_(std::move(options)),
      rate_(options_.qps, std::max(options_.burst, 1)),
      worker_([this] { Work(); }) {}

EventRecorder::~EventRecorder() {
  std::size_t pending;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    pending = queue_.size();
  }
  work_ready_.notify_all();
  idle_.notify_all();
  worker_.join();
  if (pending > 0) spdlog::warn("event recorder: stopped with {} events not written", pending);
}

std::string EventRecorder::RandomSuffix() {
  std::array<uint8_t, kNameSuffixBytes> bytes{};
  RandomSource& random = options_.random ? *options_.random : SystemRandom::Instance();
  if (auto filled = random.Fill(bytes); !filled.ok()) {
    // Names must still differ: fall back to the time, as client-go names every Event.
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.clock->Now().time_since_epoch()).count();
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(ns >> (8 * i));
  }
  return ossl::Hex(ossl::Bytes(bytes.begin(), bytes.end()));
}

void EventRecorder::Record(const Json& regarding_object, EventType type, std::string_view reason,
                           std::string_view action, std::string_view note) {
  const Json empty = Json::object();
  const Json& metadata = regarding_object.is_object() && regarding_object.contains("metadata")
                             ? regarding_object["metadata"]
                             : empty;
  Json regarding = Json::object();
  for (const char* key : {"apiVersion", "kind"}) {
    if (auto v = StringAt(regarding_object, key); !v.empty()) regarding[key] = v;
  }
  for (const char* key : {"namespace", "name", "uid", "resourceVersion"}) {
    if (auto v = StringAt(metadata, key); !v.empty()) regarding[key] = v;
  }
  const std::string name = StringAt(metadata, "name");
  if (name.empty()) {
    spdlog::warn("event recorder: not recording {} {}: the object has no metadata.name", EventTypeName(type),
                 ValidUtf8(reason));
    return;
  }
  const std::string object_ns = StringAt(metadata, "namespace");
  const std::string ns = object_ns.empty() ? "default" : object_ns;
  const std::string valid_reason = ValidUtf8(reason), valid_action = ValidUtf8(action);
  const std::string valid_note = TruncateNote(note);
  std::string uid = StringAt(metadata, "uid");
  // The uid tells apart objects re-created under the same name; without one, the name does.
  const std::string object_id = !uid.empty() ? uid : regarding.value("apiVersion", "") + "/" +
                                                         regarding.value("kind", "") + "/" + object_ns + "/" + name;
  const std::string key = object_id + '\x1f' + EventTypeName(type) + '\x1f' + valid_reason + '\x1f' + valid_action +
                          '\x1f' + valid_note;

  const system_clock::time_point now = options_.clock->Now();
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return;
  std::shared_ptr<Series> series;
  if (auto it = series_.find(key); it != series_.end() && now - it->second->last_observed <= options_.series_window) {
    series = it->second;
    ++series->count;
    series->last_observed = now;
  } else {
    if (series_.size() >= options_.max_series) ForgetSeries(now);
    series = std::make_shared<Series>();
    series->ns = ns;
    series->last_observed = now;
    series->event = {{"apiVersion", "events.k8s.io/v1"},
                     {"kind", "Event"},
                     {"metadata", {{"name", EventName(name, RandomSuffix())}, {"namespace", ns}}},
                     {"eventTime", FormatMicroTime(now)},
                     {"type", EventTypeName(type)},
                     {"reason", valid_reason},
                     {"action", valid_action},
                     {"note", valid_note},
                     {"regarding", regarding},
                     {"reportingController", reporting_controller_},
                     {"reportingInstance", reporting_instance_}};
    series_[key] = series;
  }
  if (series->queued) return;  // the write already queued will carry this occurrence
  if (queue_.size() >= options_.queue_capacity) {
    // Dropped, but the Series remembers the occurrence: a later repeat writes the count.
    if (options_.on_drop) options_.on_drop();
    if (dropped_++ % 100 == 0) {
      spdlog::warn("event recorder: queue full ({} events), dropping {} {} about {} ({} dropped so far)",
                   queue_.size(), EventTypeName(type), valid_reason, ObjectKey(regarding_object), dropped_);
    }
    return;
  }
  series->queued = true;
  queue_.push_back(std::move(series));
  work_ready_.notify_one();
}

// Called with mutex_ held, when the map is full: forget finished series first, then everything.
void EventRecorder::ForgetSeries(system_clock::time_point now) {
  std::erase_if(series_, [&](const auto& entry) { return now - entry.second->last_observed > options_.series_window; });
  if (series_.size() >= options_.max_series) series_.clear();
}

void EventRecorder::Flush() {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [&] { return stopping_ || (queue_.empty() && !writing_); });
}

std::uint64_t EventRecorder::dropped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return dropped_;
}

void EventRecorder::Work() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) break;
    // The write rate: wait for a token with the queue still open to Record (repeats queued
    // meanwhile are folded into their series, so they cost no write of their own).
    if (const auto wait = rate_.Reserve(); wait.count() > 0) {
      work_ready_.wait_for(lock, wait, [&] { return stopping_; });
      if (stopping_) break;
    }
    std::shared_ptr<Series> series = std::move(queue_.front());
    queue_.pop_front();
    series->queued = false;
    const int count = series->count;
    const system_clock::time_point last_observed = series->last_observed;
    const bool created = series->written_count > 0;
    writing_ = true;
    lock.unlock();
    Write(*series, count, last_observed, created);
    lock.lock();
    writing_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
}

// Creates the Event, or PATCHes its series; retries what may succeed on a second try. Errors
// are logged: an Event is worth neither a failed reconcile nor an unbounded retry.
void EventRecorder::Write(Series& series, int count, system_clock::time_point last_observed, bool created) {
  const Json series_field = {{"count", count}, {"lastObservedTime", FormatMicroTime(last_observed)}};
  for (int attempt = 1;; ++attempt) {
    const std::string name = series.event["metadata"].value("name", "");
    Result<Json> written = Internal("not written");
    if (created) {
      written = client_->Patch(resources::kEvents, series.ns, name, PatchType::kMerge, {{"series", series_field}});
      if (!written.ok() && written.error().kind() == ErrorKind::kNotFound) {
        // Gone (the API server keeps Events for an hour, --event-ttl): create it afresh.
        std::lock_guard<std::mutex> lock(mutex_);
        series.event["metadata"]["name"] = EventName(series.event["regarding"].value("name", ""), RandomSuffix());
        created = false;
        continue;
      }
    } else {
      Json event = series.event;
      if (count >= 2) event["series"] = series_field;  // repeats arrived before the first write
      written = client_->Create(resources::kEvents, series.ns, event);
      if (!written.ok() && written.error().kind() == ErrorKind::kAlreadyExists && attempt < kWriteAttempts) {
        std::lock_guard<std::mutex> lock(mutex_);
        series.event["metadata"]["name"] = EventName(series.event["regarding"].value("name", ""), RandomSuffix());
        continue;
      }
    }
    if (written.ok()) {
      spdlog::debug("event recorder: {} {}/{} (count {})", created ? "patched" : "created", series.ns, name, count);
      std::lock_guard<std::mutex> lock(mutex_);
      series.written_count = std::max(series.written_count, count);
      return;
    }
    if (!written.error().retryable() || attempt >= kWriteAttempts) {
      spdlog::warn("event recorder: could not write Event {}/{} ({} {}): {}", series.ns, name,
                   series.event.value("type", ""), series.event.value("reason", ""), written.error().message());
      return;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    if (work_ready_.wait_for(lock, std::chrono::milliseconds(200 * attempt), [&] { return stopping_; })) return;
  }
}

}  // namespace certwright::kube
