// What the client makes of malformed or hostile answers: typed errors, never an exception.
#include <gtest/gtest.h>

#include <deque>

#include "certwright/kube/client.h"

namespace certwright::kube {
namespace {

// A watch stream that replays fixed lines.
class ScriptedStream final : public http::LineStream {
 public:
  explicit ScriptedStream(std::deque<std::string> lines) : lines_(std::move(lines)) {}
  int status() const override { return 200; }
  Result<std::optional<std::string>> ReadLine() override {
    if (lines_.empty()) return std::optional<std::string>();
    std::string line = lines_.front();
    lines_.pop_front();
    return std::optional<std::string>(line);
  }
  void Cancel() override {}

 private:
  std::deque<std::string> lines_;
};

// A transport that answers with scripted statuses and counts the requests.
class ScriptedTransport final : public http::Client {
 public:
  explicit ScriptedTransport(std::deque<int> statuses) : statuses_(std::move(statuses)) {}
  int calls = 0;
  Result<http::Response> Send(const http::Request&) override {
    ++calls;
    int status = statuses_.empty() ? 200 : statuses_.front();
    if (!statuses_.empty()) statuses_.pop_front();
    if (status == 0) return Unavailable("connection refused");
    return http::Response{status, {{"retry-after", "0"}}, status == 200 ? "{}" : ""};
  }
  Result<std::unique_ptr<http::LineStream>> Stream(const http::Request&) override { return Internal("no streams"); }

 private:
  std::deque<int> statuses_;
};

int CallsFor(const std::string& verb, std::deque<int> statuses, bool* ok) {
  auto transport = std::make_shared<ScriptedTransport>(std::move(statuses));
  ClientConfig config;
  config.server = "https://127.0.0.1:1";
  ClientOptions options;
  options.transport = transport;
  auto client = Client::Create(config, options);
  Json body = Json::object();
  *ok = (*client)->Request(verb, "/api/v1/configmaps", "configmaps", verb == "GET" ? nullptr : &body).ok();
  return transport->calls;
}

TEST(ClientRetries, ReadsAreRetriedOnServerAndConnectionErrorsWritesOnlyOn429) {
  bool ok = false;
  EXPECT_EQ(CallsFor("GET", {503, 0, 200}, &ok), 3);
  EXPECT_TRUE(ok);
  EXPECT_EQ(CallsFor("POST", {503}, &ok), 1) << "a write that may have been applied is not repeated";
  EXPECT_FALSE(ok);
  EXPECT_EQ(CallsFor("POST", {0}, &ok), 1);
  EXPECT_FALSE(ok);
  EXPECT_EQ(CallsFor("POST", {429, 200}, &ok), 2) << "429: the server did not act on it";
  EXPECT_TRUE(ok);
  EXPECT_EQ(CallsFor("GET", {404}, &ok), 1) << "a client error is not retried";
  EXPECT_FALSE(ok);
  EXPECT_EQ(CallsFor("GET", {500, 500, 500, 500, 200}, &ok), 4) << "at most max_read_attempts";
  EXPECT_FALSE(ok);
}

Result<std::optional<WatchEvent>> FirstEvent(const std::string& line) {
  WatchStream stream(std::make_unique<ScriptedStream>(std::deque<std::string>{line}));
  return stream.Next();
}

TEST(ClientErrors, StatusBodiesBecomeTypedErrors) {
  http::Response r;
  r.status = 429;
  r.headers["retry-after"] = "3";
  r.body = R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"slow down","reason":"TooManyRequests","code":429})";
  Error e = ErrorFromResponse(r, "GET /api/v1/secrets");
  EXPECT_EQ(e.kind(), ErrorKind::kUnavailable);
  EXPECT_EQ(e.message(), "GET /api/v1/secrets: slow down");
  EXPECT_EQ(e.detail()->retry_after, std::chrono::seconds(3));
  r = http::Response{502, {}, "<html>bad gateway</html>"};
  Error gateway = ErrorFromResponse(r, "GET /x");
  EXPECT_EQ(gateway.kind(), ErrorKind::kUnavailable);
  EXPECT_EQ(gateway.message(), "GET /x: HTTP 502: <html>bad gateway</html>");
}

TEST(ClientErrors, MalformedStatusBodiesDoNotThrow) {
  for (const char* body : {R"({"kind":"Status","reason":404,"message":["x"]})",
                           R"({"kind":"Status","details":{"causes":["x", 5, {"field":7}]}})",
                           R"({"kind":"Status","details":"nope"})", R"([1,2,3])", R"("just a string")"}) {
    http::Response r{404, {}, body};
    Error e = ErrorFromResponse(r, "GET /x");
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound) << body;
    EXPECT_EQ(e.http_status(), 404);
  }
}

TEST(ClientErrors, RetryAfterIsBoundedAndNeverNegative) {
  struct Row { const char* header; std::chrono::milliseconds want; };
  for (const auto& row : {Row{"7", std::chrono::seconds(7)}, Row{"99999999999", std::chrono::seconds(600)},
                          Row{"-5", std::chrono::milliseconds(0)}, Row{"Wed, 21 Oct 2026 07:28:00 GMT", std::chrono::milliseconds(0)}}) {
    http::Response r{503, {{"retry-after", row.header}}, ""};
    EXPECT_EQ(ErrorFromResponse(r, "x").detail()->retry_after, row.want) << row.header;
  }
}

TEST(ClientErrors, MalformedWatchLinesAreErrorsNotExceptions) {
  for (const char* line : {R"({"type":"ADDED"})", R"({"type":7,"object":{}})", R"({"type":"ADDED","object":"x"})",
                           R"(not json)", R"([1])"}) {
    auto event = FirstEvent(line);
    ASSERT_FALSE(event.ok()) << line;
    EXPECT_EQ(event.error().kind(), ErrorKind::kInternal) << line;
  }
  auto error_event = FirstEvent(R"({"type":"ERROR","object":{"kind":"Status","code":"410","message":"m"}})");
  ASSERT_FALSE(error_event.ok());
  EXPECT_EQ(error_event.error().http_status(), 500) << "a non-integer code is not trusted";
  auto gone = FirstEvent(R"({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old"}})");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().http_status(), 410);
  auto added = FirstEvent(R"({"type":"ADDED","object":{"metadata":{"name":5}}})");
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(ObjectKey((*added)->object), "") << "a non-string name gives an empty key, not an exception";
}

TEST(ClientErrors, ObjectKeyToleratesAnyJson) {
  EXPECT_EQ(ObjectKey(Json::parse(R"({"metadata":{"namespace":"a","name":"b"}})")), "a/b");
  EXPECT_EQ(ObjectKey(Json::parse(R"({"metadata":{"name":"n"}})")), "n");
  EXPECT_EQ(ObjectKey(Json::parse(R"("x")")), "");
  EXPECT_EQ(ObjectKey(Json::parse(R"({"metadata":[1]})")), "");
}

}  // namespace
}  // namespace certwright::kube
