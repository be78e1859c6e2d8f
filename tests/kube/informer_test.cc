// The informer against a real kube-apiserver (hack/control-plane). The tests that need the
// informer to be disconnected or slow put a gate in front of the real transport: it holds list or
// watch requests, or cuts the open watches, while the real server goes on changing.
#include "certwright/kube/informer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "support/kube_env.h"

namespace certwright::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ConfigMap;
using testing::KubeTest;
using resources::kConfigMaps;

// The label every test object carries; informers select on it, so the namespace's
// kube-root-ca.crt (written by kube-controller-manager whenever it gets to it) stays out.
const Json kLabels = {{"informer-test", "yes"}};
constexpr const char* kSelector = "informer-test=yes";

template <typename Pred>
bool WaitUntil(Pred pred, milliseconds timeout = seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

std::string Name(const Json& o) { return o["metadata"].value("name", ""); }
std::string Rv(const Json& o) { return o["metadata"].value("resourceVersion", ""); }
std::string V(const Json& o) { return o.value("data", Json::object()).value("v", ""); }

// The real transport, with gates: lists (every Send) and watches (every Stream) can be held, and
// the open watch streams cut, as a network partition would.
class GatedTransport final : public http::Client {
 public:
  explicit GatedTransport(std::shared_ptr<http::Client> inner) : inner_(std::move(inner)) {}

  void HoldLists(bool hold) { Set(hold_lists_, hold); }
  void HoldWatches(bool hold) { Set(hold_watches_, hold); }
  void ReleaseAll() {
    HoldLists(false);
    HoldWatches(false);
  }
  // Requests waiting at a gate now.
  int Waiting() {
    std::lock_guard lock(mutex_);
    return waiting_;
  }
  // Ends every open watch stream (the informer sees the end of the stream).
  void CutWatches() {
    std::lock_guard lock(mutex_);
    for (auto* s : open_) s->Cancel();
  }

  // http::Client
  Result<http::Response> Send(const http::Request& request) override {
    WaitAt(hold_lists_);
    return inner_->Send(request);
  }
  Result<std::unique_ptr<http::LineStream>> Stream(const http::Request& request) override {
    WaitAt(hold_watches_);
    auto stream = inner_->Stream(request);
    if (!stream.ok()) return stream;
    return std::unique_ptr<http::LineStream>(std::make_unique<Tracked>(this, std::move(*stream)));
  }

 private:
  class Tracked final : public http::LineStream {
   public:
    Tracked(GatedTransport* owner, std::unique_ptr<http::LineStream> inner) : owner_(owner), inner_(std::move(inner)) {
      std::lock_guard lock(owner_->mutex_);
      owner_->open_.insert(this);
    }
    ~Tracked() override {
      std::lock_guard lock(owner_->mutex_);
      owner_->open_.erase(this);
    }
    int status() const override { return inner_->status(); }
    Result<std::optional<std::string>> ReadLine() override { return inner_->ReadLine(); }
    void Cancel() override { inner_->Cancel(); }

   private:
    GatedTransport* owner_;
    std::unique_ptr<http::LineStream> inner_;
  };

  void Set(bool& gate, bool hold) {
    {
      std::lock_guard lock(mutex_);
      gate = hold;
    }
    changed_.notify_all();
  }
  void WaitAt(const bool& gate) {
    std::unique_lock lock(mutex_);
    ++waiting_;
    changed_.wait(lock, [&] { return !gate; });
    --waiting_;
  }

  std::shared_ptr<http::Client> inner_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool hold_lists_ = false;
  bool hold_watches_ = false;
  int waiting_ = 0;
  std::set<http::LineStream*> open_;
};

// What the handlers were told, as lines: "add a 1", "update a 1->2", "delete a".
class Recorder {
 public:
  InformerHandler Handler() {
    return {
        .on_add = [this](const Json& o) { Record("add " + Name(o) + " " + V(o)); },
        .on_update =
            [this](const Json& old_o, const Json& new_o) {
              if (Rv(old_o) == Rv(new_o)) {
                std::lock_guard lock(mutex_);
                ++resyncs_[Name(new_o)];
                return;
              }
              Record("update " + Name(new_o) + " " + V(old_o) + "->" + V(new_o));
            },
        .on_delete = [this](const Json& o) { Record("delete " + Name(o)); },
    };
  }
  std::vector<std::string> Events() {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::vector<std::string> SortedEvents() {
    auto e = Events();
    std::sort(e.begin(), e.end());
    return e;
  }
  bool WaitForEvents(std::size_t n) {
    return WaitUntil([&] { return Events().size() >= n; });
  }
  int Resyncs(const std::string& name) {
    std::lock_guard lock(mutex_);
    return resyncs_[name];
  }
  void Clear() {
    std::lock_guard lock(mutex_);
    events_.clear();
  }

 private:
  void Record(std::string line) {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(line));
  }

  std::mutex mutex_;
  std::vector<std::string> events_;
  std::map<std::string, int> resyncs_;  // on_update(obj, obj) calls by name
};

class InformerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env_.shared_client()) << "no control plane";
    auto inner = MakeHttpClient(env_.client().config());
    ASSERT_TRUE(inner.ok()) << inner.error().message();
    gate_ = std::make_shared<GatedTransport>(*inner);
    ClientOptions options;
    options.transport = gate_;
    auto client = Client::Create(env_.client().config(), options);
    ASSERT_TRUE(client.ok()) << client.error().message();
    client_ = *client;
  }
  // Before the members go: an informer blocked at a gate could not stop.
  ~InformerTest() override {
    if (gate_) gate_->ReleaseAll();
    if (informer_) informer_->Stop();
  }

  Informer& MakeInformer(InformerOptions options = {}) {
    options.label_selector = kSelector;
    informer_ = std::make_unique<Informer>(client_, kConfigMaps, ns(), std::move(options));
    informer_->AddHandler(recorder_.Handler());
    return *informer_;
  }

  Client& c() { return env_.client(); }
  const std::string& ns() { return env_.ns(); }
  std::string Key(const std::string& name) { return ns() + "/" + name; }

  void Create(const std::string& name, const std::string& v) {
    auto made = c().Create(kConfigMaps, ns(), ConfigMap(name, {{"v", v}}, kLabels));
    ASSERT_TRUE(made.ok()) << made.error().message();
  }
  void SetV(const std::string& name, const std::string& v) {
    auto patched = c().Patch(kConfigMaps, ns(), name, PatchType::kMerge, {{"data", {{"v", v}}}});
    ASSERT_TRUE(patched.ok()) << patched.error().message();
  }
  void Delete(const std::string& name) {
    auto deleted = c().Delete(kConfigMaps, ns(), name);
    ASSERT_TRUE(deleted.ok()) << deleted.error().message();
  }

  // name -> resourceVersion, from the server and from the informer's cache.
  std::map<std::string, std::string> ServerState() {
    ListOptions options;
    options.label_selector = kSelector;
    auto list = c().ListAll(kConfigMaps, ns(), options);
    EXPECT_TRUE(list.ok()) << list.error().message();
    std::map<std::string, std::string> out;
    if (list.ok()) {
      for (const auto& item : (*list)["items"]) out[Name(item)] = Rv(item);
    }
    return out;
  }
  std::map<std::string, std::string> CacheState() {
    std::map<std::string, std::string> out;
    for (const auto& o : informer_->List()) out[Name(*o)] = Rv(*o);
    return out;
  }

  KubeTest env_{"informer"};
  std::shared_ptr<GatedTransport> gate_;
  std::shared_ptr<Client> client_;
  Recorder recorder_;
  std::unique_ptr<Informer> informer_;
};

TEST_F(InformerTest, ListsExistingObjectsThenSeesAddsUpdatesDeletesInOrder) {
  Create("pre1", "1");
  Create("pre2", "1");
  ASSERT_TRUE(c().Create(kConfigMaps, ns(), ConfigMap("unlabelled", {{"v", "1"}})).ok());
  Informer& informer = MakeInformer();
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(seconds(30)));
  ASSERT_TRUE(recorder_.WaitForEvents(2));
  EXPECT_EQ(recorder_.SortedEvents(), (std::vector<std::string>{"add pre1 1", "add pre2 1"}));
  recorder_.Clear();

  Create("x", "1");
  SetV("x", "2");
  SetV("pre2", "2");
  Delete("pre1");
  Delete("x");
  SetV("unlabelled", "2");  // not selected: never seen
  ASSERT_TRUE(recorder_.WaitForEvents(5)) << ::testing::PrintToString(recorder_.Events());
  EXPECT_EQ(recorder_.Events(),
            (std::vector<std::string>{"add x 1", "update x 1->2", "update pre2 1->2", "delete pre1", "delete x"}));

  EXPECT_EQ(informer.Keys(), std::vector<std::string>{Key("pre2")});
  auto pre2 = informer.Get(Key("pre2"));
  ASSERT_NE(pre2, nullptr);
  EXPECT_EQ(V(*pre2), "2");
  EXPECT_EQ((*pre2)["kind"], "ConfigMap");
  EXPECT_EQ(informer.Get(Key("x")), nullptr);
  InformerStats stats = informer.Stats();
  EXPECT_EQ(stats.lists, 1u);
  EXPECT_GE(stats.watches, 1u);
  EXPECT_EQ(stats.events, 5u);
  EXPECT_EQ(stats.notifications, 7u);
  EXPECT_EQ(recorder_.Events().size(), 5u) << "nothing more arrived";
}

TEST_F(InformerTest, HasSyncedOnlyAfterTheInitialList) {
  Create("a", "1");
  Create("b", "1");
  gate_->HoldLists(true);
  Informer& informer = MakeInformer();
  EXPECT_FALSE(informer.HasSynced());
  informer.Start();
  ASSERT_TRUE(WaitUntil([&] { return gate_->Waiting() == 1; })) << "the informer lists first";
  EXPECT_FALSE(informer.HasSynced());
  EXPECT_FALSE(informer.WaitForSync(milliseconds(200)));
  EXPECT_TRUE(informer.Keys().empty());
  EXPECT_TRUE(recorder_.Events().empty());

  gate_->HoldLists(false);
  ASSERT_TRUE(informer.WaitForSync(seconds(30)));
  // The whole list is in the cache the moment HasSynced() turns true.
  auto keys = informer.Keys();
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{Key("a"), Key("b")}));
  ASSERT_TRUE(recorder_.WaitForEvents(2));
  EXPECT_EQ(recorder_.SortedEvents(), (std::vector<std::string>{"add a 1", "add b 1"}));
}

TEST_F(InformerTest, SecondaryIndexFindsObjectsByLabel) {
  auto with_team = [&](const std::string& name, const std::string& team) {
    Json labels = kLabels;
    labels["team"] = team;
    ASSERT_TRUE(c().Create(kConfigMaps, ns(), ConfigMap(name, {}, labels)).ok());
  };
  with_team("a1", "a");
  with_team("a2", "a");
  with_team("b1", "b");
  Create("none", "1");
  Informer& informer = MakeInformer();
  informer.AddIndex("team", [](const Json& o) {
    std::string team = o["metadata"].value("labels", Json::object()).value("team", "");
    return team.empty() ? std::vector<std::string>{} : std::vector<std::string>{team};
  });
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(seconds(30)));
  auto names = [&](const std::string& team) {
    std::vector<std::string> out;
    for (const auto& o : informer.ByIndex("team", team)) out.push_back(Name(*o));
    return out;
  };
  EXPECT_EQ(names("a"), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(names("b"), (std::vector<std::string>{"b1"}));
  EXPECT_TRUE(names("").empty());
  EXPECT_TRUE(names("c").empty());

  // Moving an object to another value moves it between buckets; a deletion removes it.
  Json to_b = {{"metadata", {{"labels", {{"team", "b"}}}}}};
  ASSERT_TRUE(c().Patch(kConfigMaps, ns(), "a2", PatchType::kMerge, to_b).ok());
  ASSERT_TRUE(WaitUntil([&] { return names("b").size() == 2; })) << ::testing::PrintToString(names("b"));
  EXPECT_EQ(names("a"), (std::vector<std::string>{"a1"}));
  EXPECT_EQ(names("b"), (std::vector<std::string>{"a2", "b1"}));
  Delete("a1");
  ASSERT_TRUE(WaitUntil([&] { return names("a").empty(); }));
  EXPECT_EQ(names("b"), (std::vector<std::string>{"a2", "b1"}));
}

TEST_F(InformerTest, ResyncReplaysCachedObjectsAsUpdates) {
  Create("r1", "1");
  Create("r2", "1");
  Informer& informer = MakeInformer({.resync_period = milliseconds(200)});
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(seconds(30)));
  ASSERT_TRUE(WaitUntil([&] { return recorder_.Resyncs("r1") >= 2 && recorder_.Resyncs("r2") >= 2; }, seconds(10)));
  EXPECT_GE(informer.Stats().resyncs, 2u);
  InformerStats stats = informer.Stats();
  // Only a 410 from a compaction by another test (ctest -j) would make it list again.
  EXPECT_EQ(stats.lists, 1 + stats.expired) << "a resync replays the cache; it does not list";
  EXPECT_EQ(recorder_.SortedEvents(), (std::vector<std::string>{"add r1 1", "add r2 1"}));
}

TEST_F(InformerTest, ResyncFollowsTheInjectedClock) {
  Create("r", "1");
  ManualClock clock;
  Informer& informer = MakeInformer({.resync_period = std::chrono::hours(1), .clock = &clock});
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(seconds(30)));
  clock.Advance(std::chrono::minutes(59));
  informer.CheckResyncForTest();
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(recorder_.Resyncs("r"), 0);
  clock.Advance(std::chrono::minutes(1));
  informer.CheckResyncForTest();
  EXPECT_TRUE(WaitUntil([&] { return recorder_.Resyncs("r") == 1; }, seconds(5)));
}

TEST_F(InformerTest, ReconnectsFromTheLastResourceVersionWhenTheServerEndsTheWatch) {
  Informer& informer = MakeInformer({.watch_timeout_seconds = 1});
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(seconds(30)));
  ASSERT_TRUE(WaitUntil([&] { return informer.Stats().watches >= 3; }, seconds(10)));
  Create("a", "1");
  SetV("a", "2");
  ASSERT_TRUE(WaitUntil([&] { return informer.Stats().watches >= 5; }, seconds(10)));
  Delete("a");
  ASSERT_TRUE(recorder_.WaitForEvents(3));
  std::this_thread::sleep_for(milliseconds(1500));  // one more reconnect: nothing is replayed
  EXPECT_EQ(recorder_.Events(), (std::vector<std::string>{"add a 1", "update a 1->2", "delete a"}));
  // Another test may compact etcd meanwhile (ctest -j): a watch from before that is 410 Gone,
  // and the informer lists again. Nothing else makes it list.
  InformerStats stats = informer.Stats();
  EXPECT_EQ(stats.lists, 1 + stats.expired);
  EXPECT_EQ(stats.errors, 0u);
}

TEST_F(InformerTest, ResumesFromTheLastResourceVersionAfterTheWatchIsCut) {
  Create("a", "1");
  Create("b", "1");
  Informer& informer = MakeInformer();
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(seconds(30)));
  ASSERT_TRUE(recorder_.WaitForEvents(2));
  recorder_.Clear();

  ASSERT_TRUE(WaitUntil([&] { return informer.Stats().watches == 1; })) << "the watch is open";
  gate_->HoldWatches(true);
  gate_->CutWatches();
  ASSERT_TRUE(WaitUntil([&] { return gate_->Waiting() == 1; })) << "the informer tries to watch again";
  Create("c", "1");
  SetV("b", "2");
  Delete("a");
  gate_->HoldWatches(false);
  ASSERT_TRUE(recorder_.WaitForEvents(3));
  EXPECT_TRUE(WaitUntil([&] { return CacheState() == ServerState(); }));
  if (informer.Stats().expired == 0) {
    EXPECT_EQ(recorder_.Events(), (std::vector<std::string>{"add c 1", "update b 1->2", "delete a"}));
    EXPECT_EQ(informer.Stats().lists, 1u) << "the history was still there: no relist";
  } else {
    // Another test compacted etcd while the watch was cut (ctest -j): the informer listed again
    // and reports the same changes, in list order.
    EXPECT_EQ(recorder_.SortedEvents(), (std::vector<std::string>{"add c 1", "delete a", "update b 1->2"}));
  }
}

TEST_F(InformerTest, RelistsAfter410WithoutDuplicatesOrMisses) {
  Create("deleted", "1");
  Create("updated", "1");
  Create("unchanged", "1");
  Informer& informer = MakeInformer();
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(seconds(30)));
  ASSERT_TRUE(recorder_.WaitForEvents(3));
  recorder_.Clear();

  // Disconnect the informer, change things, and compact etcd past its resourceVersion, as
  // happens to an informer partitioned from a busy cluster for longer than the compaction interval.
  ASSERT_TRUE(WaitUntil([&] { return informer.Stats().watches == 1; })) << "the watch is open";
  gate_->HoldWatches(true);
  gate_->CutWatches();
  ASSERT_TRUE(WaitUntil([&] { return gate_->Waiting() == 1; }));
  const std::string old_rv = informer.LastResourceVersion();
  Create("created", "1");
  SetV("updated", "2");
  Delete("deleted");
  ASSERT_EQ(testing::ControlPlane("compact-etcd"), 0);
  gate_->HoldWatches(false);

  ASSERT_TRUE(WaitUntil([&] { return informer.Stats().lists >= 2; })) << "410 Gone makes the informer list again";
  ASSERT_TRUE(WaitUntil([&] { return CacheState() == ServerState(); }));
  ASSERT_TRUE(recorder_.WaitForEvents(3));
  std::this_thread::sleep_for(milliseconds(300));  // nothing more arrives
  EXPECT_EQ(recorder_.SortedEvents(),
            (std::vector<std::string>{"add created 1", "delete deleted", "update updated 1->2"}));
  EXPECT_GE(informer.Stats().expired, 1u);
  EXPECT_NE(informer.LastResourceVersion(), old_rv);

  // And the informer watches on from the new list.
  recorder_.Clear();
  SetV("unchanged", "2");
  ASSERT_TRUE(recorder_.WaitForEvents(1));
  EXPECT_EQ(recorder_.Events(), (std::vector<std::string>{"update unchanged 1->2"}));
}

TEST_F(InformerTest, StopCancelsTheWatchAndReturnsPromptly) {
  Informer& informer = MakeInformer();
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(seconds(30)));
  ASSERT_TRUE(WaitUntil([&] { return informer.Stats().watches == 1; }));
  std::this_thread::sleep_for(milliseconds(100));  // the watch is waiting for events
  const auto start = std::chrono::steady_clock::now();
  informer.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(2));
  informer.Stop();  // idempotent
  Create("after", "1");
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_TRUE(recorder_.Events().empty());
}

}  // namespace
}  // namespace certwright::kube
