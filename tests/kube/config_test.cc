// kubeconfig and in-cluster configuration, from files the test writes (no server needed).
#include "certwright/kube/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "support/softhsm_token.h"

namespace certwright::kube {
namespace {

using testing::TempDir;

void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

const char* kKubeconfig = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority: ca.crt
- name: other
  cluster:
    server: https://10.0.0.1
    certificate-authority-data: Q0EgREFUQQ==
users:
- name: admin
  user:
    client-certificate-data: Q0VSVA==
    client-key: keys/admin.key
- name: robot
  user:
    tokenFile: token
- name: plugin
  user:
    exec:
      command: aws
contexts:
- name: dev
  context: {cluster: local, user: admin, namespace: team-a}
- name: prod
  context: {cluster: other, user: robot}
- name: sso
  context: {cluster: other, user: plugin}
- name: dangling
  context: {cluster: nowhere, user: admin}
)";

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directory(dir_.File("keys"));
    Write(dir_.File("ca.crt"), "CA FILE");
    Write(dir_.File("keys/admin.key"), "KEY FILE");
    Write(dir_.File("token"), "robot-token\n");
    Write(path_, kKubeconfig);
  }
  TempDir dir_;
  std::string path_ = dir_.File("kubeconfig");
};

TEST_F(ConfigTest, ReadsTheCurrentContextWithFilesRelativeToTheKubeconfig) {
  auto c = LoadKubeconfig(path_);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->server, "https://127.0.0.1:6443");
  EXPECT_EQ(c->ca_pem, "CA FILE");
  EXPECT_EQ(c->client_cert_pem, "CERT");
  EXPECT_EQ(c->client_key_pem, "KEY FILE");
  EXPECT_EQ(c->namespace_, "team-a");
  EXPECT_EQ(c->source, "kubeconfig " + path_ + ", context dev");
}

TEST_F(ConfigTest, ANamedContextOverridesTheCurrentOne) {
  auto c = LoadKubeconfig(path_, "prod");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->server, "https://10.0.0.1");
  EXPECT_EQ(c->ca_pem, "CA DATA");
  EXPECT_EQ(c->token_file, dir_.File("token"));
  EXPECT_EQ(c->namespace_, "default");
}

TEST_F(ConfigTest, ErrorsNameTheFileAndTheProblem) {
  struct Row { std::string context; std::string message; };
  for (const auto& row : {Row{"nope", "kubeconfig " + path_ + ": context \"nope\" is not defined"},
                          Row{"dangling", "kubeconfig " + path_ + ": cluster \"nowhere\" of context \"dangling\" is not defined"},
                          Row{"sso", "kubeconfig " + path_ + ": user \"plugin\" uses exec/auth-provider credentials, which "
                                     "certwright does not run; use a client certificate or a token"}}) {
    auto c = LoadKubeconfig(path_, row.context);
    ASSERT_FALSE(c.ok()) << row.context;
    EXPECT_EQ(c.error().message(), row.message);
  }
  Write(path_, "clusters: [unclosed");
  auto broken = LoadKubeconfig(path_);
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().message().rfind("kubeconfig " + path_ + " is not valid YAML: ", 0), 0u)
      << broken.error().message();
  auto missing = LoadKubeconfig(dir_.File("absent"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message(), "kubeconfig: " + dir_.File("absent") + ": no such file");
}

TEST_F(ConfigTest, PlainHttpServersAreRefused) {
  Write(path_, "current-context: c\ncontexts:\n- name: c\n  context: {cluster: x}\nclusters:\n- name: x\n  cluster: "
               "{server: 'http://10.0.0.1:8080'}\n");
  auto c = LoadKubeconfig(path_);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message(),
            "kubeconfig " + path_ + ": cluster \"x\" server \"http://10.0.0.1:8080\" must start with https://");
}

TEST_F(ConfigTest, WrongTypesInTheYamlAreErrorsNotCrashes) {
  Write(path_, "current-context: dev\ncontexts:\n- name: dev\n  context: {cluster: [1, 2], user: admin}\n");
  auto c = LoadKubeconfig(path_);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind(), ErrorKind::kInvalidArgument);
}

TEST_F(ConfigTest, InClusterConfigReadsTheServiceAccountAndTheEnvironment) {
  Write(dir_.File("ca.crt"), "CLUSTER CA");
  Write(dir_.File("namespace"), "certwright-system");
  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto c = InClusterConfig(dir_.path());
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->server, "https://[fd00::1]:443");
  EXPECT_EQ(c->ca_pem, "CLUSTER CA");
  EXPECT_EQ(c->token_file, dir_.File("token")) << "the token is re-read from the file when it rotates";
  EXPECT_EQ(c->namespace_, "certwright-system");

  auto outside = InClusterConfig(dir_.path());
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.error().message(),
            "not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no kubeconfig given: use --kubeconfig "
            "or KUBECONFIG");
}

TEST_F(ConfigTest, LoadConfigPrefersTheFlagThenKubeconfigEnvironment) {
  setenv("KUBECONFIG", (path_ + ":/ignored/second").c_str(), 1);
  auto from_env = LoadConfig();
  ASSERT_TRUE(from_env.ok()) << from_env.error().message();
  EXPECT_EQ(from_env->namespace_, "team-a");
  auto from_flag = LoadConfig(path_, "prod");
  ASSERT_TRUE(from_flag.ok());
  EXPECT_EQ(from_flag->server, "https://10.0.0.1");
  unsetenv("KUBECONFIG");
}

}  // namespace
}  // namespace certwright::kube
