// Leader election against a real kube-apiserver: candidates in processes of their own
// (certwright_leader_helper, so a leader can be killed with SIGKILL), and in this process with a
// transport that fails or hangs on demand.
#include "certwright/kube/leader_election.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <thread>
#include <vector>

#include "support/kube_env.h"

extern char** environ;

namespace certwright::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using testing::KubeTest;
using resources::kLeases;

// The short durations of these tests.
constexpr seconds kLeaseDuration{3};
constexpr milliseconds kRenewDeadline{2000};
constexpr milliseconds kRetryPeriod{500};
// A candidate's wait between attempts: retry_period plus up to 20% jitter.
constexpr milliseconds kLongestRetry{600};
// Scheduling and request latency on a loaded 2-core machine.
constexpr milliseconds kSlack{400};

const std::regex kMicroTime(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)");

long long Ms(steady_clock::duration d) { return std::chrono::duration_cast<milliseconds>(d).count(); }

// Lines printed by candidate processes, each prefixed with the candidate's name, with arrival times.
class Transcript {
 public:
  struct Line {
    std::string text;  // "a: LEADING a"
    steady_clock::time_point at;
  };

  void Add(std::string text) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      lines_.push_back({std::move(text), steady_clock::now()});
    }
    changed_.notify_all();
  }

  // The first line equal to one of `texts`, waiting up to `timeout` for it.
  std::optional<Line> WaitForAny(const std::vector<std::string>& texts, milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    std::optional<Line> found;
    changed_.wait_for(lock, timeout, [&] {
      for (const auto& line : lines_) {
        for (const auto& text : texts) {
          if (line.text == text) {
            found = line;
            return true;
          }
        }
      }
      return false;
    });
    return found;
  }
  std::optional<Line> WaitFor(const std::string& text, milliseconds timeout) {
    return WaitForAny({text}, timeout);
  }

  bool Contains(const std::string& text) { return WaitFor(text, milliseconds(0)).has_value(); }

  std::string Dump() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string out;
    for (const auto& line : lines_) out += "  " + line.text + "\n";
    return out;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Line> lines_;
};

// One certwright_leader_helper process; killed (SIGKILL) on destruction if still running.
class Candidate {
 public:
  Candidate(Transcript& transcript, const std::string& ns, const std::string& lease, const std::string& identity)
      : name_(identity) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2 failed";
      return;
    }
    std::vector<std::string> args = {CERTWRIGHT_LEADER_HELPER,
                                      "--kubeconfig-from-env",
                                      "--lease-ns=" + ns,
                                      "--lease-name=" + lease,
                                      "--identity=" + identity,
                                      "--lease-duration-s=" + std::to_string(kLeaseDuration.count()),
                                      "--renew-deadline-ms=" + std::to_string(kRenewDeadline.count()),
                                      "--retry-period-ms=" + std::to_string(kRetryPeriod.count())};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    int spawned = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (spawned != 0) {
      ADD_FAILURE() << "cannot start " << argv[0] << ": " << std::strerror(spawned);
      close(fds[0]);
      pid_ = -1;
      return;
    }
    reader_ = std::thread([this, &transcript, fd = fds[0]] {
      FILE* out = fdopen(fd, "r");
      char buf[512];
      while (std::fgets(buf, sizeof buf, out) != nullptr) {
        std::string line(buf);
        while (!line.empty() && line.back() == '\n') line.pop_back();
        transcript.Add(name_ + ": " + line);
      }
      std::fclose(out);
    });
  }

  ~Candidate() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      Wait();
    }
    if (reader_.joinable()) reader_.join();
  }

  void Signal(int signal) { kill(pid_, signal); }

  // The exit status (or 128 + signal).
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  std::string name_;
  pid_t pid_ = -1;
  bool exited_ = false;
  std::thread reader_;
};

class LeaderElectionTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(env_.shared_client()) << "no control plane"; }

  KubeTest env_{"leader"};
  Client& c() { return env_.client(); }
  const std::string& ns() { return env_.ns(); }

  Json GetLease(const std::string& name = "lease") {
    auto lease = c().Get(kLeases, ns(), name);
    EXPECT_TRUE(lease.ok()) << lease.error().message();
    return lease.ok() ? *lease : Json::object();
  }

  LeaderElectionConfig Config(const std::string& identity, const std::string& lease = "lease") {
    LeaderElectionConfig config;
    config.lease_namespace = ns();
    config.lease_name = lease;
    config.identity = identity;
    config.lease_duration = kLeaseDuration;
    config.renew_deadline = kRenewDeadline;
    config.retry_period = kRetryPeriod;
    return config;
  }

  // Lets the second candidate watch the leader renew for a while, ending at a random point of
  // its retry cycle (so that repeated runs measure takeovers from every phase of it).
  static void WatchAWhile() {
    static std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int> phase(0, static_cast<int>(kLongestRetry.count()));
    std::this_thread::sleep_for(kLeaseDuration / 2 + milliseconds(phase(rng)));
  }

  Transcript transcript_;
};

TEST_F(LeaderElectionTest, OneOfTwoProcessesLeads) {
  Candidate a(transcript_, ns(), "lease", "a");
  Candidate b(transcript_, ns(), "lease", "b");
  auto first = transcript_.WaitForAny({"a: LEADING a", "b: LEADING b"}, milliseconds(15'000));
  ASSERT_TRUE(first) << "nobody leads:\n" << transcript_.Dump();
  const std::string leader = first->text.substr(0, 1);
  const std::string other = leader == "a" ? "b" : "a";
  ASSERT_TRUE(transcript_.WaitFor(other + ": LEADER " + leader, milliseconds(5'000)))
      << "the other candidate sees the leader:\n" << transcript_.Dump();

  // Two lease durations later the leader still leads and the other still waits.
  std::this_thread::sleep_for(2 * kLeaseDuration);
  EXPECT_FALSE(transcript_.Contains(other + ": LEADING " + other)) << transcript_.Dump();
  EXPECT_FALSE(transcript_.Contains(leader + ": STOPPED " + leader)) << transcript_.Dump();
  Json lease = GetLease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], leader);
  EXPECT_EQ(lease["spec"]["leaseDurationSeconds"], kLeaseDuration.count());
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 0);
}

TEST_F(LeaderElectionTest, KilledLeaderIsReplacedWithinTheLeaseDuration) {
  Candidate a(transcript_, ns(), "lease", "a");
  ASSERT_TRUE(transcript_.WaitFor("a: LEADING a", milliseconds(15'000))) << transcript_.Dump();
  Candidate b(transcript_, ns(), "lease", "b");
  ASSERT_TRUE(transcript_.WaitFor("b: LEADER a", milliseconds(5'000))) << transcript_.Dump();
  WatchAWhile();

  const auto killed = steady_clock::now();
  a.Signal(SIGKILL);
  EXPECT_EQ(a.Wait(), 128 + SIGKILL);
  auto took_over = transcript_.WaitFor("b: LEADING b", milliseconds(15'000));
  ASSERT_TRUE(took_over) << "b never led:\n" << transcript_.Dump();
  const auto takeover = took_over->at - killed;
  std::cout << "[ timing   ] takeover after kill -9: " << Ms(takeover) << " ms (lease " << Ms(kLeaseDuration)
            << " ms, retry " << Ms(kRetryPeriod) << " ms)\n";
  RecordProperty("takeover_after_kill_ms", std::to_string(Ms(takeover)));

  // b counts the lease from the last renewal it saw, which a made at most a retry period (plus a
  // request) before it died: b must not lead earlier than that allows...
  EXPECT_GE(takeover, kLeaseDuration - kRetryPeriod - kSlack);
  // ...and leads once the lease has expired by its own observation: it observed a's last renewal
  // at its first read after it (at most one wait between attempts later), and sees the expiry at
  // its first read after lease_duration (at most one more wait).
  EXPECT_LE(takeover, kLeaseDuration + 2 * kLongestRetry + kSlack);

  Json lease = GetLease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], "b");
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 1);
}

TEST_F(LeaderElectionTest, CleanShutdownReleasesTheLeaseAtOnce) {
  Candidate a(transcript_, ns(), "lease", "a");
  ASSERT_TRUE(transcript_.WaitFor("a: LEADING a", milliseconds(15'000))) << transcript_.Dump();
  Json held = GetLease();
  const std::string acquired_by_a = held["spec"].value("acquireTime", "");
  Candidate b(transcript_, ns(), "lease", "b");
  ASSERT_TRUE(transcript_.WaitFor("b: LEADER a", milliseconds(5'000))) << transcript_.Dump();
  WatchAWhile();

  const auto terminated = steady_clock::now();
  a.Signal(SIGTERM);
  auto took_over = transcript_.WaitFor("b: LEADING b", milliseconds(15'000));
  ASSERT_TRUE(took_over) << "b never led:\n" << transcript_.Dump();
  const auto takeover = took_over->at - terminated;
  std::cout << "[ timing   ] takeover after SIGTERM: " << Ms(takeover) << " ms (lease " << Ms(kLeaseDuration)
            << " ms, retry " << Ms(kRetryPeriod) << " ms)\n";
  RecordProperty("takeover_after_sigterm_ms", std::to_string(Ms(takeover)));
  // b takes the released Lease at its next attempt: far sooner than the lease would expire.
  EXPECT_LE(takeover, kLongestRetry + kSlack);
  EXPECT_LT(takeover, kLeaseDuration / 2);

  EXPECT_EQ(a.Wait(), 0);
  auto stopped = transcript_.WaitFor("a: STOPPED a", milliseconds(0));
  ASSERT_TRUE(stopped) << transcript_.Dump();
  EXPECT_LE(stopped->at, took_over->at) << "a stops leading before it releases the Lease:\n" << transcript_.Dump();
  EXPECT_TRUE(transcript_.Contains("a: EXITING a"));

  Json lease = GetLease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], "b");
  EXPECT_EQ(lease["spec"]["leaseDurationSeconds"], kLeaseDuration.count());
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 1);
  EXPECT_NE(lease["spec"].value("acquireTime", ""), acquired_by_a) << "a new holder has a new acquireTime";
}

// ---- One candidate in this process ----

// Records the callbacks, with times.
struct CallbackLog {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> calls;
  std::optional<steady_clock::time_point> stopped_at;

  LeaderElectionCallbacks Callbacks() {
    return {.on_started_leading = [this] { Add("started"); },
            .on_stopped_leading = [this] { Add("stopped"); },
            .on_new_leader = [this](const std::string& id) { Add("leader " + id); }};
  }
  void Add(const std::string& call) {
    std::lock_guard<std::mutex> lock(mutex);
    calls.push_back(call);
    if (call == "stopped") stopped_at = steady_clock::now();
    changed.notify_all();
  }
  bool WaitFor(const std::string& call, milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return std::find(calls.begin(), calls.end(), call) != calls.end(); });
  }
  std::vector<std::string> Calls() {
    std::lock_guard<std::mutex> lock(mutex);
    return calls;
  }
};

TEST_F(LeaderElectionTest, AcquiresAnAbsentLeaseRenewsItAndReleasesItOnStop) {
  CallbackLog log;
  LeaderElectionConfig config = Config("me");
  config.events = std::make_shared<EventRecorder>(env_.shared_client(), "certwright.dev/test", "me");
  auto elector = LeaderElector::Create(env_.shared_client(), config, log.Callbacks());
  ASSERT_TRUE(elector.ok()) << elector.error().message();
  EXPECT_FALSE((*elector)->IsLeader());
  (*elector)->Start();
  ASSERT_TRUE(log.WaitFor("started", milliseconds(10'000)));
  EXPECT_TRUE((*elector)->IsLeader());
  EXPECT_EQ((*elector)->Leader(), "me");

  Json first = GetLease();
  const Json& spec = first["spec"];
  EXPECT_EQ(spec["holderIdentity"], "me");
  EXPECT_EQ(spec["leaseDurationSeconds"], kLeaseDuration.count());
  EXPECT_EQ(spec["leaseTransitions"], 0);
  EXPECT_TRUE(std::regex_match(spec.value("acquireTime", ""), kMicroTime)) << spec.dump();
  EXPECT_TRUE(std::regex_match(spec.value("renewTime", ""), kMicroTime)) << spec.dump();

  std::this_thread::sleep_for(3 * kRetryPeriod);
  Json renewed = GetLease();
  EXPECT_EQ(renewed["spec"]["acquireTime"], spec["acquireTime"]);
  EXPECT_GT(renewed["spec"].value("renewTime", ""), spec.value("renewTime", ""));
  EXPECT_EQ(renewed["spec"]["leaseTransitions"], 0);

  (*elector)->Stop();
  EXPECT_FALSE((*elector)->IsLeader());
  EXPECT_EQ(log.Calls(), (std::vector<std::string>{"leader me", "started", "stopped"}));
  Json released = GetLease();
  EXPECT_EQ(released["spec"]["holderIdentity"], "");
  EXPECT_EQ(released["spec"]["leaseDurationSeconds"], 1);
  EXPECT_EQ(released["spec"]["leaseTransitions"], 0);

  config.events->Flush();
  auto events = c().List(resources::kEvents, ns());
  ASSERT_TRUE(events.ok()) << events.error().message();
  bool recorded = false;
  for (const auto& e : (*events)["items"]) {
    if (e["regarding"].value("kind", "") == "Lease" && e.value("reason", "") == "LeaderElection" &&
        e.value("note", "") == "me became leader") {
      recorded = true;
    }
  }
  EXPECT_TRUE(recorded) << events->dump(2);
}

TEST_F(LeaderElectionTest, JudgesExpiryByItsOwnObservationNotByTheRecordedRenewTime) {
  // A Lease whose holder's clock is an hour behind: its renewTime looks long expired.
  Json ghost = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", "lease"}}},
                {"spec",
                 {{"holderIdentity", "ghost"},
                  {"leaseDurationSeconds", 2},
                  {"acquireTime", FormatMicroTime(std::chrono::system_clock::now() - std::chrono::hours(1))},
                  {"renewTime", FormatMicroTime(std::chrono::system_clock::now() - std::chrono::hours(1))},
                  {"leaseTransitions", 4}}}};
  ASSERT_TRUE(c().Create(kLeases, ns(), ghost).ok());

  ManualClock clock;
  CallbackLog log;
  LeaderElectionConfig config = Config("me");
  config.clock = &clock;
  auto elector = LeaderElector::Create(env_.shared_client(), config, log.Callbacks());
  ASSERT_TRUE(elector.ok());
  (*elector)->Start();
  ASSERT_TRUE(log.WaitFor("leader ghost", milliseconds(5'000)));
  // Our clock stands still: the record has not been unchanged for leaseDurationSeconds yet.
  EXPECT_FALSE(log.WaitFor("started", 4 * kRetryPeriod)) << "took over a Lease it had not seen expire";

  clock.Advance(seconds(2) + milliseconds(1));
  ASSERT_TRUE(log.WaitFor("started", 4 * kRetryPeriod));
  Json lease = GetLease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], "me");
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 5);
  EXPECT_EQ(lease["spec"]["acquireTime"], FormatMicroTime(clock.Now()));
  EXPECT_EQ(log.Calls(), (std::vector<std::string>{"leader ghost", "leader me", "started"}));
}

TEST_F(LeaderElectionTest, StopsLeadingAtOnceWhenAnotherHolderTakesTheLease) {
  CallbackLog log;
  auto elector = LeaderElector::Create(env_.shared_client(), Config("me"), log.Callbacks());
  ASSERT_TRUE(elector.ok());
  (*elector)->Start();
  ASSERT_TRUE(log.WaitFor("started", milliseconds(10'000)));

  // Another writer takes the Lease (retrying when the leader's renewal comes in between).
  Result<Json> usurped = Internal("not tried");
  for (int attempt = 0; attempt < 5 && !usurped.ok(); ++attempt) {
    Json lease = GetLease();
    lease["spec"]["holderIdentity"] = "usurper";
    lease["spec"]["renewTime"] = FormatMicroTime(std::chrono::system_clock::now());
    usurped = c().Update(kLeases, ns(), lease);
  }
  ASSERT_TRUE(usurped.ok()) << usurped.error().message();
  const auto overwritten = steady_clock::now();

  // At its next renewal it finds the usurper there: no waiting for the renew deadline.
  ASSERT_TRUE(log.WaitFor("stopped", kRetryPeriod + kSlack)) << "still leading";
  std::cout << "[ timing   ] stopped leading " << Ms(*log.stopped_at - overwritten)
            << " ms after the Lease was taken\n";
  EXPECT_FALSE((*elector)->IsLeader());
  EXPECT_EQ((*elector)->Leader(), "usurper");
  (*elector)->Stop();
  EXPECT_EQ(GetLease()["spec"]["holderIdentity"], "usurper") << "Stop() releases only a Lease it holds";
  EXPECT_EQ(log.Calls(), (std::vector<std::string>{"leader me", "started", "leader usurper", "stopped"}));
}

// Passes requests to the real API server, or fails them, or holds them, as the test says.
class SwitchableTransport final : public http::Client {
 public:
  enum class Mode { kPass, kFail, kHang };
  explicit SwitchableTransport(std::shared_ptr<http::Client> real) : real_(std::move(real)) {}

  void Set(Mode mode) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      mode_ = mode;
    }
    changed_.notify_all();
  }

  Result<http::Response> Send(const http::Request& request) override {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      // Bounded, so that a failed assertion cannot leave the elector's Stop() waiting forever.
      changed_.wait_for(lock, std::chrono::seconds(20), [&] { return mode_ != Mode::kHang; });
      if (mode_ == Mode::kFail) return Unavailable("connection refused (test)");
    }
    return real_->Send(request);
  }
  Result<std::unique_ptr<http::LineStream>> Stream(const http::Request& request) override { return real_->Stream(request); }

 private:
  std::shared_ptr<http::Client> real_;
  std::mutex mutex_;
  std::condition_variable changed_;
  Mode mode_ = Mode::kPass;
};

class LeaderElectionFaultTest : public LeaderElectionTest {
 protected:
  void SetUp() override {
    LeaderElectionTest::SetUp();
    if (HasFatalFailure()) return;
    auto real = MakeHttpClient(c().config());
    ASSERT_TRUE(real.ok());
    transport_ = std::make_shared<SwitchableTransport>(*real);
    ClientOptions options;
    options.transport = transport_;
    auto client = Client::Create(c().config(), options);
    ASSERT_TRUE(client.ok());
    client_ = *client;
  }
  void TearDown() override {
    if (transport_) transport_->Set(SwitchableTransport::Mode::kPass);
  }

  std::shared_ptr<SwitchableTransport> transport_;
  std::shared_ptr<Client> client_;
};

TEST_F(LeaderElectionFaultTest, StopsLeadingWhenRenewalsFailForTheRenewDeadline) {
  CallbackLog log;
  auto elector = LeaderElector::Create(client_, Config("me"), log.Callbacks());
  ASSERT_TRUE(elector.ok());
  (*elector)->Start();
  ASSERT_TRUE(log.WaitFor("started", milliseconds(10'000)));
  std::this_thread::sleep_for(kRetryPeriod * 3 / 2);

  transport_->Set(SwitchableTransport::Mode::kFail);
  const auto broken = steady_clock::now();
  // Failures within the deadline are retried, not taken for a lost lease.
  EXPECT_FALSE(log.WaitFor("stopped", kRenewDeadline - kRetryPeriod - kSlack));
  EXPECT_TRUE((*elector)->IsLeader());
  ASSERT_TRUE(log.WaitFor("stopped", kRenewDeadline + kSlack));
  const auto lost_after = *log.stopped_at - broken;
  std::cout << "[ timing   ] stopped leading " << Ms(lost_after) << " ms after renewals began to fail (renew deadline "
            << Ms(kRenewDeadline) << " ms)\n";
  // The deadline counts from the last successful renewal, at most a retry period before the break.
  EXPECT_GE(lost_after, kRenewDeadline - kRetryPeriod - kSlack);
  EXPECT_LE(lost_after, kRenewDeadline + kSlack);
  EXPECT_FALSE((*elector)->IsLeader());

  transport_->Set(SwitchableTransport::Mode::kPass);
  (*elector)->Stop();
  EXPECT_EQ(log.Calls(), (std::vector<std::string>{"leader me", "started", "stopped"}));
}

TEST_F(LeaderElectionFaultTest, StopsLeadingOnTimeWhileARenewalHangs) {
  CallbackLog log;
  auto elector = LeaderElector::Create(client_, Config("me"), log.Callbacks());
  ASSERT_TRUE(elector.ok());
  (*elector)->Start();
  ASSERT_TRUE(log.WaitFor("started", milliseconds(10'000)));

  transport_->Set(SwitchableTransport::Mode::kHang);
  const auto hung = steady_clock::now();
  // The client's own timeout is 30 s; the watchdog does not wait for it.
  ASSERT_TRUE(log.WaitFor("stopped", kRenewDeadline + kSlack));
  std::cout << "[ timing   ] stopped leading " << Ms(*log.stopped_at - hung)
            << " ms after a renewal began to hang (renew deadline " << Ms(kRenewDeadline) << " ms)\n";
  EXPECT_FALSE((*elector)->IsLeader());

  transport_->Set(SwitchableTransport::Mode::kPass);
  (*elector)->Stop();
  EXPECT_EQ(log.Calls(), (std::vector<std::string>{"leader me", "started", "stopped"}));
  // Having let go, it freed the Lease for the next candidate.
  EXPECT_EQ(GetLease()["spec"]["holderIdentity"], "");
}

TEST(LeaderElectionConfigTest, InvalidConfigurationsAreRefusedWithAMessageNamingTheField) {
  auto valid = [] {
    LeaderElectionConfig c;
    c.lease_namespace = "ns";
    c.lease_name = "lease";
    c.identity = "me";
    return c;
  };
  struct Row {
    std::function<void(LeaderElectionConfig&)> change;
    std::string message;
  };
  const std::vector<Row> rows = {
      {[](auto& c) { c.lease_namespace = ""; }, "leader election: lease_namespace is empty"},
      {[](auto& c) { c.lease_name = ""; }, "leader election: lease_name is empty"},
      {[](auto& c) { c.identity = ""; }, "leader election: identity is empty"},
      {[](auto& c) { c.clock = nullptr; }, "leader election: clock is null"},
      {[](auto& c) { c.lease_duration = seconds(0); }, "leader election: lease_duration must be at least 1 s"},
      {[](auto& c) { c.retry_period = milliseconds(0); }, "leader election: retry_period must be positive"},
      {[](auto& c) { c.renew_deadline = milliseconds(15'000); },
       "leader election: lease_duration (15000 ms) must be greater than renew_deadline (15000 ms)"},
      {[](auto& c) { c.renew_deadline = milliseconds(2'400); },
       "leader election: renew_deadline (2400 ms) must be greater than 1.2 * retry_period (2400 ms)"},
  };
  EXPECT_TRUE(ValidateLeaderElectionConfig(valid()).ok()) << "the defaults are valid";
  for (const auto& row : rows) {
    LeaderElectionConfig c = valid();
    row.change(c);
    auto status = ValidateLeaderElectionConfig(c);
    ASSERT_FALSE(status.ok()) << row.message;
    EXPECT_EQ(status.error().kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(status.error().message(), row.message);
  }
}

}  // namespace
}  // namespace certwright::kube
