// The Event recorder against a real kube-apiserver, and against a fake transport for what the
// server cannot show (names, timing, a full queue).
#include "certwright/kube/events.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <regex>
#include <vector>

#include "support/kube_env.h"

namespace certwright::kube {
namespace {

using std::chrono::milliseconds;
using testing::ConfigMap;
using testing::KubeTest;
using resources::kConfigMaps;
using resources::kEvents;

const std::regex kMicroTime(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)");

class EventsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(env_.shared_client()) << "no control plane"; }

  KubeTest env_{"events"};
  Client& c() { return env_.client(); }
  const std::string& ns() { return env_.ns(); }

  Json MakeConfigMap(const std::string& name) {
    auto cm = c().Create(kConfigMaps, ns(), ConfigMap(name));
    EXPECT_TRUE(cm.ok()) << cm.error().message();
    return cm.ok() ? *cm : Json::object();
  }

  // The Events in `in_ns` regarding the object named `name`.
  std::vector<Json> EventsAbout(const std::string& name, const std::string& in_ns) {
    auto list = c().List(kEvents, in_ns);
    EXPECT_TRUE(list.ok()) << list.error().message();
    std::vector<Json> out;
    if (!list.ok()) return out;
    for (const auto& e : (*list)["items"]) {
      if (e.value("regarding", Json::object()).value("name", "") == name) out.push_back(e);
    }
    return out;
  }

  EventRecorder recorder_{env_.shared_client(), "certwright.dev/controller", "certwright-test"};
};

TEST_F(EventsTest, RecordsAnEventRegardingTheObject) {
  Json cm = MakeConfigMap("issuer-config");
  recorder_.Record(cm, EventType::kWarning, "IssuanceFailed", "Issue", "the HSM refused the PIN for token \"ca\"");
  recorder_.Flush();

  auto events = EventsAbout("issuer-config", ns());
  ASSERT_EQ(events.size(), 1u);
  const Json& e = events[0];
  EXPECT_EQ(e["regarding"]["apiVersion"], "v1");
  EXPECT_EQ(e["regarding"]["kind"], "ConfigMap");
  EXPECT_EQ(e["regarding"]["namespace"], ns());
  EXPECT_EQ(e["regarding"]["uid"], cm["metadata"]["uid"]);
  EXPECT_EQ(e["regarding"]["resourceVersion"], cm["metadata"]["resourceVersion"]);
  EXPECT_EQ(e["type"], "Warning");
  EXPECT_EQ(e["reason"], "IssuanceFailed");
  EXPECT_EQ(e["action"], "Issue");
  EXPECT_EQ(e["note"], "the HSM refused the PIN for token \"ca\"");
  EXPECT_EQ(e["reportingController"], "certwright.dev/controller");
  EXPECT_EQ(e["reportingInstance"], "certwright-test");
  EXPECT_TRUE(std::regex_match(e.value("eventTime", ""), kMicroTime)) << e.dump();
  EXPECT_TRUE(std::regex_match(e["metadata"].value("name", ""), std::regex(R"(issuer-config\.[0-9a-f]{16})")))
      << e["metadata"].dump();
  EXPECT_FALSE(e.contains("series")) << "a single occurrence is no series";
}

TEST_F(EventsTest, RepeatedEventsBecomeASeries) {
  Json cm = MakeConfigMap("flaky");
  for (int i = 0; i < 3; ++i) {
    recorder_.Record(cm, EventType::kWarning, "HSMBusy", "Sign", "the HSM is busy; retrying");
    recorder_.Flush();  // each repeat written on its own: create, then two PATCHes
  }
  // Repeats recorded faster than they are written are folded into one write.
  for (int i = 0; i < 3; ++i) recorder_.Record(cm, EventType::kNormal, "Issued", "Issue", "certificate issued");
  recorder_.Flush();

  auto events = EventsAbout("flaky", ns());
  ASSERT_EQ(events.size(), 2u) << "one Event per distinct (type, reason, action, note)";
  for (const auto& e : events) {
    ASSERT_TRUE(e.contains("series")) << e.dump(2);
    EXPECT_EQ(e["series"]["count"], 3) << e.dump(2);
    EXPECT_TRUE(std::regex_match(e["series"].value("lastObservedTime", ""), kMicroTime));
    EXPECT_GE(e["series"].value("lastObservedTime", ""), e.value("eventTime", ""));
  }
}

TEST_F(EventsTest, ANoteLongerThan1KiBIsTruncated) {
  Json cm = MakeConfigMap("verbose");
  const std::string ascii(3000, 'x');
  std::string accented;
  for (int i = 0; i < 700; ++i) accented += "\xC3\xA9";  // "é": 1400 bytes
  recorder_.Record(cm, EventType::kWarning, "Long", "Issue", ascii);
  recorder_.Record(cm, EventType::kWarning, "LongUtf8", "Issue", accented);
  recorder_.Flush();

  auto events = EventsAbout("verbose", ns());
  ASSERT_EQ(events.size(), 2u) << "the server accepts both";
  for (const auto& e : events) {
    const std::string note = e.value("note", "");
    EXPECT_LE(note.size(), EventRecorder::kMaxNoteBytes);
    EXPECT_GE(note.size(), EventRecorder::kMaxNoteBytes - 4);
    EXPECT_EQ(note.substr(note.size() - 3), "...");
    const std::string& original = e["reason"] == "Long" ? ascii : accented;
    EXPECT_EQ(original.compare(0, note.size() - 3, note, 0, note.size() - 3), 0) << "a prefix of the note";
  }
}

TEST_F(EventsTest, EventsAboutClusterScopedObjectsGoToTheDefaultNamespace) {
  auto namespace_object = c().Get(resources::kNamespaces, "", ns());
  ASSERT_TRUE(namespace_object.ok());
  recorder_.Record(*namespace_object, EventType::kNormal, "Observed", "Watch", "a namespace of a test");
  recorder_.Flush();

  auto events = EventsAbout(ns(), "default");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["regarding"]["kind"], "Namespace");
  EXPECT_FALSE(events[0]["regarding"].contains("namespace"));
  EXPECT_TRUE(c().Delete(kEvents, "default", events[0]["metadata"].value("name", "")).ok());
}

// ---- Without the API server ----

// Answers every request at once (POST: 201 with the object sent), or holds them until opened.
class FakeTransport final : public http::Client {
 public:
  struct Sent {
    std::string method, target;
    Json body;
  };

  Result<http::Response> Send(const http::Request& request) override {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, std::chrono::seconds(20), [&] { return open_; });
    sent_.push_back({request.method, request.target, Json::parse(request.body, nullptr, false)});
    return http::Response{request.method == "POST" ? 201 : 200, {}, request.body.empty() ? "{}" : request.body};
  }
  Result<std::unique_ptr<http::LineStream>> Stream(const http::Request&) override { return Unavailable("no watches"); }

  void SetOpen(bool open) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      open_ = open;
    }
    changed_.notify_all();
  }
  std::vector<Sent> sent() {
    std::lock_guard<std::mutex> lock(mutex_);
    return sent_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = true;
  std::vector<Sent> sent_;
};

class EventRecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClientConfig config;
    config.server = "https://api.invalid";
    ClientOptions options;
    options.transport = transport_;
    auto client = Client::Create(config, options);
    ASSERT_TRUE(client.ok());
    client_ = *client;
  }

  static Json Object(const std::string& name, const std::string& ns = "ns") {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}, {"namespace", ns}, {"uid", "uid-" + name}}}};
  }

  std::shared_ptr<FakeTransport> transport_ = std::make_shared<FakeTransport>();
  std::shared_ptr<Client> client_;
  ManualClock clock_;
};

TEST_F(EventRecorderTest, RepeatsWithinTheSeriesWindowArePatchedAndLaterOnesStartAnew) {
  EventRecorderOptions options;
  options.clock = &clock_;
  EventRecorder recorder(client_, "certwright.dev/controller", "test", options);
  recorder.Record(Object("a"), EventType::kNormal, "Issued", "Issue", "ok");
  recorder.Flush();
  clock_.Advance(std::chrono::minutes(5));
  recorder.Record(Object("a"), EventType::kNormal, "Issued", "Issue", "ok");
  recorder.Flush();
  clock_.Advance(std::chrono::minutes(7));  // past the 6-minute window since the last one
  recorder.Record(Object("a"), EventType::kNormal, "Issued", "Issue", "ok");
  recorder.Flush();

  auto sent = transport_->sent();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].method, "POST");
  EXPECT_EQ(sent[0].target, "/apis/events.k8s.io/v1/namespaces/ns/events");
  EXPECT_EQ(sent[1].method, "PATCH");
  const std::string first_name = sent[0].body["metadata"]["name"];
  EXPECT_EQ(sent[1].target.substr(0, sent[1].target.find('?')),
            "/apis/events.k8s.io/v1/namespaces/ns/events/" + first_name);
  EXPECT_EQ(sent[1].body["series"]["count"], 2);
  EXPECT_EQ(sent[1].body["series"]["lastObservedTime"], FormatMicroTime(clock_.Now() - std::chrono::minutes(7)));
  EXPECT_EQ(sent[2].method, "POST");
  EXPECT_NE(sent[2].body["metadata"]["name"], first_name);
  EXPECT_FALSE(sent[2].body.contains("series"));
}

TEST_F(EventRecorderTest, RecordNeverBlocksAndDropsWhenTheQueueIsFull) {
  transport_->SetOpen(false);  // an API server that does not answer
  EventRecorderOptions options;
  options.queue_capacity = 10;
  std::uint64_t counted = 0;
  options.on_drop = [&] { ++counted; };
  EventRecorder recorder(client_, "certwright.dev/controller", "test", options);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {
    recorder.Record(Object("o" + std::to_string(i)), EventType::kWarning, "Failed", "Issue", "no");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(100));
  // One is being written (held by the transport), ten wait, the rest are dropped.
  EXPECT_GE(recorder.dropped(), 89u);
  EXPECT_LE(recorder.dropped(), 90u);
  EXPECT_EQ(counted, recorder.dropped()) << "each drop reaches the metric";
  transport_->SetOpen(true);
  recorder.Flush();
  EXPECT_EQ(transport_->sent().size(), 100 - recorder.dropped());
}

TEST_F(EventRecorderTest, WritesAtMostQpsAfterTheBurstAndFoldsRepeatsMeanwhile) {
  EventRecorderOptions options;
  options.qps = 20;  // one write per 50 ms once the burst of 2 is spent
  options.burst = 2;
  EventRecorder recorder(client_, "certwright.dev/controller", "test", options);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 6; ++i) {
    recorder.Record(Object("o" + std::to_string(i)), EventType::kNormal, "Issued", "Issue", "ok");
  }
  // Repeats of a queued Event wait with it and cost no write of their own.
  for (int i = 0; i < 3; ++i) recorder.Record(Object("o5"), EventType::kNormal, "Issued", "Issue", "ok");
  recorder.Flush();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  auto sent = transport_->sent();
  ASSERT_EQ(sent.size(), 6u);
  EXPECT_EQ(recorder.dropped(), 0u);
  EXPECT_EQ(sent[5].body["metadata"]["name"].get<std::string>().rfind("o5.", 0), 0u);
  EXPECT_EQ(sent[5].body["series"]["count"], 4) << "o5 and its three repeats in one write";
  // 2 at once, then 4 more at 20 per second: at least 200 ms (a lower bound cannot flake).
  EXPECT_GE(elapsed, milliseconds(190));
}

TEST_F(EventRecorderTest, ObjectNamesThatAreNotDnsSubdomainsAreMadeValid) {
  EventRecorder recorder(client_, "certwright.dev/controller", "test");
  Json role = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
               {"kind", "ClusterRole"},
               {"metadata", {{"name", "system:Auth_Delegator"}, {"uid", "u"}}}};
  recorder.Record(role, EventType::kNormal, "Seen", "Watch", "x");
  recorder.Record(Object(std::string(253, 'n')), EventType::kNormal, "Seen", "Watch", "x");
  recorder.Flush();
  auto sent = transport_->sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_TRUE(std::regex_match(sent[0].body["metadata"].value("name", ""),
                               std::regex(R"(system-auth-delegator\.[0-9a-f]{16})")))
      << sent[0].body["metadata"];
  EXPECT_EQ(sent[0].target, "/apis/events.k8s.io/v1/namespaces/default/events") << "cluster-scoped: default";
  EXPECT_EQ(sent[1].body["metadata"].value("name", "").size(), 253u);
}

TEST(EventFormats, MicroTimeIsRfc3339InUtcWithMicroseconds) {
  using std::chrono::system_clock;
  EXPECT_EQ(FormatMicroTime(system_clock::time_point(std::chrono::microseconds(1'500'000))),
            "1970-01-01T00:00:01.500000Z");
  const auto t = system_clock::time_point(std::chrono::seconds(1'700'000'000) + std::chrono::nanoseconds(7'999));
  EXPECT_EQ(FormatMicroTime(t), "2023-11-14T22:13:20.000007Z") << "truncated to microseconds";
}

TEST(EventFormats, NotesAreValidUtf8AndAtMost1KiB) {
  EXPECT_EQ(TruncateNote("short"), "short");
  EXPECT_EQ(TruncateNote(std::string(1024, 'a')), std::string(1024, 'a'));
  EXPECT_EQ(TruncateNote(std::string(1025, 'a')), std::string(1021, 'a') + "...");
  // A 3-byte character straddling the cut is left out whole.
  std::string cjk = std::string(1020, 'a') + "\xE4\xB8\xAD" + std::string(10, 'b');
  EXPECT_EQ(TruncateNote(cjk), std::string(1020, 'a') + "...");
  // Bytes that are not UTF-8 (a device's raw message) become U+FFFD.
  EXPECT_EQ(TruncateNote("pin \xFF\xC3("), "pin \xEF\xBF\xBD\xEF\xBF\xBD(");
}

}  // namespace
}  // namespace certwright::kube
