// What the client makes of malformed or hostile answers: typed errors, never an exception.
#include <gtest/gtest.h>

#include <deque>

#include "certwright/kube/client.h"

namespace certwright::kube {
namespace {

// A watch stream that replays fixed lines.
class ScriptedStream final : public HttpStream {
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

Result<std::optional<WatchEvent>> FirstEvent(const std::string& line) {
  WatchStream stream(std::make_unique<ScriptedStream>(std::deque<std::string>{line}));
  return stream.Next();
}

TEST(ClientErrors, StatusBodiesBecomeTypedErrors) {
  HttpResponse r;
  r.status = 429;
  r.headers["retry-after"] = "3";
  r.body = R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"slow down","reason":"TooManyRequests","code":429})";
  Error e = ErrorFromResponse(r, "GET /api/v1/secrets");
  EXPECT_EQ(e.kind(), ErrorKind::kUnavailable);
  EXPECT_EQ(e.message(), "GET /api/v1/secrets: slow down");
  EXPECT_EQ(e.detail()->retry_after, std::chrono::seconds(3));
  r = HttpResponse{502, {}, "<html>bad gateway</html>"};
  Error gateway = ErrorFromResponse(r, "GET /x");
  EXPECT_EQ(gateway.kind(), ErrorKind::kUnavailable);
  EXPECT_EQ(gateway.message(), "GET /x: HTTP 502: <html>bad gateway</html>");
}

TEST(ClientErrors, MalformedStatusBodiesDoNotThrow) {
  for (const char* body : {R"({"kind":"Status","reason":404,"message":["x"]})",
                           R"({"kind":"Status","details":{"causes":["x", 5, {"field":7}]}})",
                           R"({"kind":"Status","details":"nope"})", R"([1,2,3])", R"("just a string")"}) {
    HttpResponse r{404, {}, body};
    Error e = ErrorFromResponse(r, "GET /x");
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound) << body;
    EXPECT_EQ(e.http_status(), 404);
  }
}

TEST(ClientErrors, RetryAfterIsBoundedAndNeverNegative) {
  struct Row { const char* header; std::chrono::milliseconds want; };
  for (const auto& row : {Row{"7", std::chrono::seconds(7)}, Row{"99999999999", std::chrono::seconds(600)},
                          Row{"-5", std::chrono::milliseconds(0)}, Row{"Wed, 21 Oct 2026 07:28:00 GMT", std::chrono::milliseconds(0)}}) {
    HttpResponse r{503, {{"retry-after", row.header}}, ""};
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
