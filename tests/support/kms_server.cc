#include "support/kms_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

namespace certwright::testing {

namespace {

bool Answers(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

std::string Script() { return std::string(CERTWRIGHT_SOURCE_DIR) + "/hack/kms-server"; }

}  // namespace

bool SkipKmsTests() {
  const char* v = std::getenv("CERTWRIGHT_SKIP_KMS");
  return v != nullptr && std::string(v) == "1";
}

int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

KmsServer::KmsServer(std::string seed_json) : seed_json_(std::move(seed_json)) {
  std::string out;
  if (RunCommand(Script() + " install", &out) != 0) {
    error_ = "hack/kms-server install failed (needs python3 and PyPI): " + out;
    return;
  }
  if (!seed_json_.empty()) std::ofstream(dir_.File("seed.json")) << seed_json_;
  port_ = FreeLoopbackPort();
  Start();
}

KmsServer::~KmsServer() { Stop(); }

bool KmsServer::Start() {
  std::string cmd = "PORT=" + std::to_string(port_) + " KMS_REGION=" + kKmsRegion +
                    (seed_json_.empty() ? "" : " KMS_SEED_PATH=" + dir_.File("seed.json")) + " " + Script() +
                    " run >>" + dir_.File("server.log") + " 2>&1 </dev/null & echo $!";
  std::string out;
  if (RunCommand(cmd, &out) != 0 || (pid_ = std::atoi(out.c_str())) <= 0) {
    error_ = "cannot start hack/kms-server: " + out;
    return false;
  }
  for (int i = 0; i < 300; ++i) {
    if (Answers(port_)) {
      error_.clear();
      return true;
    }
    if (::kill(pid_, 0) != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::string log;
  RunCommand("cat " + dir_.File("server.log"), &log);
  error_ = "hack/kms-server did not answer on port " + std::to_string(port_) + "; log:\n" + log;
  return false;
}

void KmsServer::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 200 && ::kill(pid_, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  if (::kill(pid_, 0) == 0) ::kill(pid_, SIGKILL);
  // The port must be free before a restart binds it again.
  for (int i = 0; i < 200 && Answers(port_); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  pid_ = 0;
}

std::string KmsServer::KeyUriWithoutCredentials(const std::string& key_id) const {
  return "awskms:key-id=" + key_id + ";region=" + kKmsRegion + "?endpoint=" + endpoint();
}

std::string KmsServer::KeyUri(const std::string& key_id) const {
  return KeyUriWithoutCredentials(key_id) + "&access-key-id=AKIDTEST&secret-access-key=test-secret";
}

std::string KmsServer::Python(const std::string& code, int* status) const {
  std::ofstream(dir_.File("snippet.py")) << "import boto3, json, os\n"
                                         << "kw = dict(region_name='" << kKmsRegion << "', endpoint_url='"
                                         << endpoint() << "', aws_access_key_id=os.environ.get('AK', 'AKIDTEST'), "
                                         << "aws_secret_access_key=os.environ.get('SK', 'test-secret'))\n"
                                         << "kms = boto3.client('kms', **kw)\n"
                                         << "iam = boto3.client('iam', **kw)\n"
                                         << "sts = boto3.client('sts', **kw)\n"
                                         << code << "\n";
  std::string out;
  int rc = RunCommand(Script() + " python " + dir_.File("snippet.py"), &out);
  if (status) *status = rc;
  return out;
}

bool KmsServer::EnableAuth() {
  std::string out;
  return RunCommand("curl -sf -X POST -H 'Content-Type: text/plain' --data 0 " + endpoint() + "/moto-api/reset-auth", &out) == 0;
}

}  // namespace certwright::testing
