// The informer while kube-apiserver is killed (-9) and started again: it must come back to the
// server's state with every change told to its handlers exactly once. This kills the API server
// of the plane the tests use, so ctest runs it alone (RUN_SERIAL, tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "certwright/kube/informer.h"
#include "support/kube_env.h"

namespace certwright::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using resources::kConfigMaps;
using testing::ConfigMap;
using testing::KubeTest;

constexpr const char* kSelector = "informer-restart=yes";
const Json kLabels = {{"informer-restart", "yes"}};

std::string Name(const Json& o) { return o["metadata"].value("name", ""); }
std::string Rv(const Json& o) { return o["metadata"].value("resourceVersion", ""); }
std::string V(const Json& o) { return o.value("data", Json::object()).value("v", ""); }

// The state the handlers were told about, rebuilt from their calls alone, and every call that
// does not fit the state before it (an add of a known object, an update or delete of an unknown
// one, an update whose old object is not the one last told).
class HandlerModel {
 public:
  InformerHandler Handler() {
    return {
        .on_add =
            [this](const Json& o) {
              std::lock_guard lock(mutex_);
              if (seen_.count(Name(o))) violations_.push_back("add of known " + Name(o));
              seen_[Name(o)] = o;
            },
        .on_update =
            [this](const Json& old_o, const Json& new_o) {
              std::lock_guard lock(mutex_);
              auto it = seen_.find(Name(new_o));
              if (it == seen_.end()) {
                violations_.push_back("update of unknown " + Name(new_o));
              } else if (Rv(it->second) != Rv(old_o)) {
                violations_.push_back("update of " + Name(new_o) + " from " + Rv(old_o) + ", last told " +
                                      Rv(it->second));
              }
              seen_[Name(new_o)] = new_o;
            },
        .on_delete =
            [this](const Json& o) {
              std::lock_guard lock(mutex_);
              ++deletes_[Name(o)];
              if (!seen_.erase(Name(o))) violations_.push_back("delete of unknown " + Name(o));
            },
    };
  }
  std::map<std::string, std::string> State() {  // name -> resourceVersion
    std::lock_guard lock(mutex_);
    std::map<std::string, std::string> out;
    for (const auto& [name, o] : seen_) out[name] = Rv(o);
    return out;
  }
  std::map<std::string, int> Deletes() {
    std::lock_guard lock(mutex_);
    return deletes_;
  }
  std::vector<std::string> Violations() {
    std::lock_guard lock(mutex_);
    return violations_;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, Json> seen_;
  std::map<std::string, int> deletes_;
  std::vector<std::string> violations_;
};

// Creates, updates and deletes ConfigMaps, retrying each write until the server has taken it
// (a write cut off by the kill may or may not have been applied: AlreadyExists after a create
// and NotFound after a delete mean it was). Records the state it expects at the end.
class Writer {
 public:
  Writer(Client& client, std::string ns) : client_(client), ns_(std::move(ns)) {}

  void Run(int objects) {
    for (int i = 0; i < objects; ++i) {
      Create("cm-" + std::to_string(i));
      if (i >= 1) Set("cm-" + std::to_string(i - 1), "1");
      if (i >= 2 && (i - 2) % 3 == 0) Delete("cm-" + std::to_string(i - 2));
      if (i >= 3 && (i - 3) % 5 == 0 && (i - 3) % 3 != 0) Set("cm-" + std::to_string(i - 3), "2");
      std::this_thread::sleep_for(milliseconds(20));
    }
  }

  int ops() const { return ops_; }
  int retries() const { return retries_; }
  std::vector<std::string> failures() const { return failures_; }
  const std::map<std::string, std::optional<std::string>>& expected() const { return expected_; }

 private:
  void Create(const std::string& name) {
    Retry("create " + name, [&]() -> Status {
      auto made = client_.Create(kConfigMaps, ns_, ConfigMap(name, {{"v", "0"}}, kLabels));
      if (!made.ok() && made.error().kind() != ErrorKind::kAlreadyExists) return std::move(made).error();
      return Ok();
    });
    expected_[name] = "0";
  }
  void Set(const std::string& name, const std::string& v) {
    Retry("update " + name, [&]() -> Status {
      auto patched = client_.Patch(kConfigMaps, ns_, name, PatchType::kMerge, {{"data", {{"v", v}}}});
      if (!patched.ok()) return std::move(patched).error();
      return Ok();
    });
    expected_[name] = v;
  }
  void Delete(const std::string& name) {
    Retry("delete " + name, [&]() -> Status {
      auto deleted = client_.Delete(kConfigMaps, ns_, name);
      if (!deleted.ok() && deleted.error().kind() != ErrorKind::kNotFound) return std::move(deleted).error();
      return Ok();
    });
    expected_[name] = std::nullopt;
  }
  template <typename Op>
  void Retry(const std::string& what, Op op) {
    ++ops_;
    const auto deadline = std::chrono::steady_clock::now() + seconds(120);
    for (;;) {
      Status s = op();
      if (s.ok()) return;
      if (std::chrono::steady_clock::now() > deadline) {
        failures_.push_back(what + ": " + s.error().message());
        return;
      }
      ++retries_;
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  Client& client_;
  std::string ns_;
  std::atomic<int> ops_{0};
  std::atomic<int> retries_{0};
  std::vector<std::string> failures_;
  std::map<std::string, std::optional<std::string>> expected_;  // nullopt: deleted
};

TEST(InformerRestartTest, ConvergesAfterTheApiServerIsKilledAndRestarted) {
  KubeTest env("informer-restart");
  ASSERT_TRUE(env.shared_client()) << "no control plane";
  // A client of the informer's own, so its connections are not the writer's.
  auto informer_client = Client::Create(env.client().config());
  ASSERT_TRUE(informer_client.ok());
  InformerOptions options;
  options.label_selector = kSelector;
  Informer informer(*informer_client, kConfigMaps, env.ns(), options);
  HandlerModel model;
  informer.AddHandler(model.Handler());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(seconds(30)));

  Writer writer(env.client(), env.ns());
  std::thread writing([&] { writer.Run(100); });
  while (writer.ops() < 60) std::this_thread::sleep_for(milliseconds(10));
  testing::ControlPlane("restart-apiserver");
  const int ops_by_restart = writer.ops();
  writing.join();
  EXPECT_TRUE(writer.failures().empty()) << ::testing::PrintToString(writer.failures());
  // The writes went on after the restart (a write cut off by the kill is retried, one sent while
  // the new server starts waits for it: either way, the kill fell in the middle of the stream).
  EXPECT_LT(ops_by_restart, writer.ops());

  ListOptions list_options;
  list_options.label_selector = kSelector;
  auto server_state = [&] {
    std::map<std::string, std::string> out;
    auto list = env.client().ListAll(kConfigMaps, env.ns(), list_options);
    if (list.ok()) {
      for (const auto& item : (*list)["items"]) out[Name(item)] = Rv(item);
    }
    return out;
  };
  auto cache_state = [&] {
    std::map<std::string, std::string> out;
    for (const auto& o : informer.List()) out[Name(*o)] = Rv(*o);
    return out;
  };
  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  bool converged = false;
  while (!converged && std::chrono::steady_clock::now() < deadline) {
    auto server = server_state();
    converged = !server.empty() && cache_state() == server && model.State() == server;
    if (!converged) std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(converged) << "cache " << ::testing::PrintToString(cache_state()) << "\nserver "
                         << ::testing::PrintToString(server_state());

  EXPECT_TRUE(model.Violations().empty()) << ::testing::PrintToString(model.Violations());
  auto deletes = model.Deletes();
  for (const auto& [name, want] : writer.expected()) {
    auto cached = informer.Get(env.ns() + "/" + name);
    if (!want) {
      EXPECT_EQ(cached, nullptr) << name;
      EXPECT_EQ(deletes[name], 1) << name << " was deleted once";
    } else {
      ASSERT_NE(cached, nullptr) << name;
      EXPECT_EQ(V(*cached), *want) << name;
      EXPECT_EQ(deletes[name], 0) << name;
    }
  }
  InformerStats stats = informer.Stats();
  EXPECT_GE(stats.watches, 2u) << "the informer watched again after the kill";
  std::cout << "writer: " << writer.ops() << " writes, " << writer.retries() << " retries; informer: " << stats.lists
            << " lists, " << stats.watches << " watches, " << stats.events << " events, " << stats.errors
            << " errors, " << stats.expired << " expired" << std::endl;
  informer.Stop();
}

}  // namespace
}  // namespace certwright::kube
